"""People who log in: accounts with a role, argon2 password hashes, browser sessions.

A session is a random token kept in an ``HttpOnly`` cookie; the database holds only
its SHA-256, so a copy of the database does not log anyone in. Each session has its
own CSRF token, sent back by the browser in a header or form field on every write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select

from labelwise.errors import AuthError, ConflictError, InvalidInputError, NotFoundError
from labelwise.store import Project, retry_on_disconnect, transaction
from labelwise.store._db import single_read
from labelwise.store._models import Event, User, WebSession, now

__all__ = [
    "ROLES",
    "SessionInfo",
    "add_user",
    "authenticate",
    "end_session",
    "list_users",
    "open_session",
    "session_user",
    "update_user",
]

ROLES = ("admin", "reviewer", "annotator")
LABELERS = ("annotator", "admin")  # the roles that may ask for work (require("annotator"))
SESSION_DAYS = 14
MIN_PASSWORD = 8


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@dataclass(frozen=True)
class SessionInfo:
    """Who is logged in, with the CSRF token of this session."""

    user_id: int
    name: str
    role: str
    csrf: str


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or any(c in name for c in "\n\r\t"):
        raise InvalidInputError(
            f"user name {name!r} is not valid: give 1 to 200 characters on one line."
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {list(ROLES)}, got {role!r}.")
    return role


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInputError(f"the password needs at least {MIN_PASSWORD} characters.")
    return password


def add_user(project: Project, name: str, password: str, role: str, *, actor=None) -> User:
    """Create an account; names are unique."""
    name, role = _check_name(name), _check_role(role)
    digest = _hasher().hash(_check_password(password))
    with transaction(project.session) as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise ConflictError(f"a user named {name!r} already exists.")
        user = User(name=name, password_hash=digest, role=role, active=True)
        s.add(user)
        s.add(Event(kind="user.add", actor=actor, payload={"name": name, "role": role}))
    return user


def update_user(
    project: Project,
    name: str,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    actor: str | None = None,
) -> User:
    """Change a user's role, password or whether it may log in (ends its sessions).

    A user who may no longer label (disabled, or made a reviewer) hands the work they
    hold back to the queue in the same transaction.
    """
    from labelwise.annotate._queue import release_held

    digest = _hasher().hash(_check_password(password)) if password is not None else None
    with transaction(project.session) as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise NotFoundError(f"no user named {name!r}.")
        was_admin = user.role == "admin" and user.active
        change = {}
        if role is not None:
            user.role = change["role"] = _check_role(role)
        if active is not None:
            user.active = change["active"] = bool(active)
        if digest is not None:
            user.password_hash = digest
            change["password"] = "changed"
        if was_admin and (user.role != "admin" or not user.active):
            admins = s.scalars(
                select(User.name).where(User.role == "admin", User.active.is_(True))
            ).all()
            if not [a for a in admins if a != name]:
                raise ConflictError(f"{name!r} is the last active admin; make another admin first.")
        if change.get("active") is False or "password" in change or "role" in change:
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        if not user.active or user.role not in LABELERS:
            reason = "disabled" if not user.active else f"role {user.role}"
            released = release_held(s, name, reason=reason, actor=actor)
            if released:
                change["released"] = len(released)
        s.add(Event(kind="user.update", actor=actor, payload={"name": name, **change}))
    return user


def list_users(project: Project) -> list[dict]:
    """Every account: name, role, active, created_at."""
    with project.session() as s:
        rows = s.scalars(select(User).order_by(User.id)).all()
    return [
        {"name": u.name, "role": u.role, "active": u.active, "created_at": u.created_at}
        for u in rows
    ]


def authenticate(project: Project, name: str, password: str) -> User:
    """The user whose name and password these are, or :class:`AuthError`."""
    name = (name or "").strip()
    with project.session() as s:
        # a NUL cannot be in a name (PostgreSQL refuses it in a query): nobody by that name
        user = None if "\x00" in name else s.scalars(select(User).where(User.name == name)).first()
    hasher = _hasher()
    if user is None or not user.active:
        # spend the same time as a real check, so timing does not tell which names exist
        hasher.hash(password or "x")
        raise AuthError("wrong user name or password.")
    from argon2.exceptions import VerificationError

    try:
        hasher.verify(user.password_hash, password or "")
    except VerificationError:
        raise AuthError("wrong user name or password.") from None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(project: Project, user: User) -> tuple[str, SessionInfo]:
    """Start a session: returns the cookie token (shown once) and the session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    stamp = now()
    with transaction(project.session) as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < stamp))
        s.add(
            WebSession(
                token_hash=_digest(token),
                user_id=user.id,
                csrf=csrf,
                created_at=stamp,
                expires_at=stamp + timedelta(days=SESSION_DAYS),
            )
        )
        s.add(Event(kind="user.login", actor=user.name, payload={}))
    return token, SessionInfo(user.id, user.name, user.role, csrf)


_U, _WS = User.__table__, WebSession.__table__
_SESSION_USER = (
    select(_U.c.id, _U.c.name, _U.c.role, _U.c.active, _WS.c.csrf, _WS.c.expires_at)
    .join(_WS, _WS.c.user_id == _U.c.id)
    .where(_WS.c.token_hash == bindparam("digest"))
)


def session_user(project: Project, token: str | None) -> SessionInfo:
    """The session of a cookie token, or :class:`AuthError` when there is none."""
    if not token:
        raise AuthError("log in first.")
    digest = _digest(token)

    def read():
        with single_read(project.engine) as c:  # every request asks: one Core statement
            return c.execute(_SESSION_USER, {"digest": digest}).first()

    row = retry_on_disconnect(read)
    if row is None or not row.active or row.expires_at < now():
        raise AuthError("your session has ended; log in again.")
    return SessionInfo(row.id, row.name, row.role, row.csrf)


def end_session(project: Project, token: str | None) -> None:
    """Log out: forget the session (no error when there is none)."""
    if not token:
        return
    with transaction(project.session) as s:
        s.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))
