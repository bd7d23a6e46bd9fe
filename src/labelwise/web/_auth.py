"""Who is asking: the session cookie, the role check and the CSRF check."""

from __future__ import annotations

import secrets

from fastapi import Depends, Request

from labelwise.annotate import SessionInfo, session_user
from labelwise.errors import ForbiddenError

__all__ = ["COOKIE", "CSRF_HEADER", "current_user", "require", "csrf_ok"]

COOKIE = "lw_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE = {"GET", "HEAD", "OPTIONS"}


def current_user(request: Request) -> SessionInfo:
    """The logged-in user; writes must carry the session's CSRF token."""
    user = session_user(request.app.state.project, request.cookies.get(COOKIE))
    if request.method not in SAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        if not csrf_ok(sent, user.csrf):
            raise ForbiddenError(
                f"missing or wrong CSRF token: send the {CSRF_HEADER} header given at login."
            )
    request.state.user = user
    return user


def csrf_ok(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF token."""
    # bytes: compare_digest refuses non-ASCII str, and a header may carry anything
    return bool(sent) and secrets.compare_digest(str(sent).encode(), expected.encode())


def require(*roles: str):
    """A dependency that lets in these roles (and admins)."""
    allowed = set(roles) | {"admin"}

    def check(user: SessionInfo = Depends(current_user)) -> SessionInfo:
        if user.role not in allowed:
            raise ForbiddenError(
                f"this needs the role {' or '.join(sorted(allowed))}; you are {user.role}."
            )
        return user

    return check
