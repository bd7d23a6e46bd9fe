"""Who is asking: the session cookie, the role check, the CSRF check and the login."""

from __future__ import annotations

import secrets

from fastapi import Depends, Request

from labelwise.annotate import SessionInfo, authenticate, session_user
from labelwise.errors import AuthError, ForbiddenError

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "check_login",
    "client_address",
    "current_user",
    "require",
    "csrf_ok",
]

#: The most characters of a typed user name that the audit log keeps.
TYPED_NAME_CHARS = 64

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


def client_address(request: Request) -> str:
    """The client's address (behind a proxy: what uvicorn's ``--proxy-headers`` trusts)."""
    return request.client.host if request.client else "unknown"


def check_login(request: Request, username: str, password: str):
    """The user with this name and password, throttled and audited.

    Refused with 429 while the account or the address is backing off (even with the
    right password); every wrong password is written to the audit log as
    ``user.login_failed`` with the name as typed (printable characters, at most
    64) and the address, never the password. Runs in the thread pool (the routes
    are plain ``def``): argon2 never blocks the event loop.
    """
    project = request.app.state.project
    throttle = request.app.state.login_throttle
    address = client_address(request)
    ticket = throttle.begin(username, address)
    ok = None
    try:
        with throttle.hashing():  # a few argon2 checks at a time; the rest wait their turn
            user = authenticate(project, username, password)
        ok = True
        return user
    except AuthError:
        ok = False
        raise
    finally:
        locked = throttle.done(ticket, ok=ok)
        if ok is False:
            typed = "".join(c for c in (username or "").strip() if c.isprintable())
            payload = {"name": typed[:TYPED_NAME_CHARS], "address": address}
            if locked:
                payload["locked_s"] = round(locked, 1)
            project.log("user.login_failed", payload)
