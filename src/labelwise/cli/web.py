"""Web commands: serve (the labeling app) and users (accounts)."""

from __future__ import annotations

import json
import math
import secrets
from pathlib import Path

import typer

from labelwise.cli._app import app, err, out, usage_error
from labelwise.store import Project

users_app = typer.Typer(
    help="Accounts for the web app: add, list, set.", no_args_is_help=True, add_completion=False
)
app.add_typer(users_app, name="users")

DIR_ARG = typer.Argument(..., help="The project folder.")


def _password(password: str | None) -> str:
    if password is not None:
        return password
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    project: Path = DIR_ARG,
    name: str = typer.Argument(..., help="User name (what they log in with)."),
    role: str = typer.Option("annotator", "--role", help="annotator, reviewer or admin."),
    password: str = typer.Option(
        None, "--password", help="At least 8 characters (asked for when not given)."
    ),
) -> None:
    """Add an account to the web app.

    Example: [cyan]labelwise users add tickets alice --role annotator[/]
    """
    from labelwise.annotate import add_user

    add_user(Project.open(project), name, _password(password), role, actor="cli")
    out.print(f"added {role} {name}", highlight=False)


@users_app.command("list")
def users_list(
    project: Path = DIR_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List accounts with their role.

    Example: [cyan]labelwise users list tickets --json[/]
    """
    from labelwise.annotate import list_users

    rows = list_users(Project.open(project))
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    for u in rows:
        state = "" if u["active"] else " (disabled)"
        out.print(f"{u['name']}\t{u['role']}{state}", highlight=False)


@users_app.command("set")
def users_set(
    project: Path = DIR_ARG,
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(None, "--role", help="New role."),
    active: bool = typer.Option(None, "--active/--disabled", help="May the user log in?"),
    new_password: bool = typer.Option(False, "--new-password", help="Ask for a new password."),
) -> None:
    """Change a user's role, password, or whether they may log in (ends their sessions).

    Disabling a user (or making them a reviewer) hands the items they hold back to the
    queue.

    Example: [cyan]labelwise users set tickets bob --role reviewer[/]
    """
    from labelwise.annotate import queue_counts, update_user
    from labelwise.annotate._users import LABELERS

    if role is None and active is None and not new_password:
        raise usage_error("say what to change: --role, --active/--disabled or --new-password.")
    p = Project.open(project)
    held = queue_counts(p)["assigned_per_user"].get(name, 0)
    user = update_user(
        p,
        name,
        role=role,
        active=active,
        password=_password(None) if new_password else None,
        actor="cli",
    )
    gone = held and (not user.active or user.role not in LABELERS)  # released with the change
    released = f"; {held} item(s) they held went back to the queue" if gone else ""
    out.print(f"updated {user.name}{released}", highlight=False)


def _warn_if_readable(project: Project) -> None:
    """One warning when other users of the machine can read the database (older projects)."""
    from rich.markup import escape

    from labelwise.store._db import world_readable

    found = world_readable(project.url)
    if found:
        names = escape(" ".join(str(f) for f in found))
        folder = escape(str(project.path))
        err.print(
            f"[yellow]warning: {names} can be read by every user of this machine and holds "
            f"the password hashes; fix it with: chmod 600 {names}; chmod 700 {folder}[/]",
            highlight=False,
        )


def _check_port(host: str, port: int) -> None:
    """Say so in one line when the address is taken, before anything starts."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise usage_error(
            f"cannot listen on {host}:{port} ({e.strerror or e}); pick another with --port."
        ) from None


#: ``serve``'s processes on SQLite when ``--workers`` is not given (see :func:`default_workers`)
SQLITE_WORKERS = 2


def default_workers(url: str) -> int:
    """``serve``'s default: a worker per core on PostgreSQL; on SQLite ``SQLITE_WORKERS``.

    SQLite has one writer at a time whatever the number of processes; a second process
    still runs the HTTP, JSON and reading work of one request while another writes.
    """
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    if url.startswith("sqlite"):
        return min(SQLITE_WORKERS, cores)
    return cores


@app.command("serve")
def serve_cmd(
    project: Path = DIR_ARG,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 opens it to the network)."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    lease_minutes: float = typer.Option(
        30.0,
        "--lease-minutes",
        help="How long an annotator may hold an item without labeling it; past that, "
        "the next person asking for work gets it.",
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Server processes (default: one per CPU core on PostgreSQL, "
        f"{SQLITE_WORKERS} on SQLite, whose writers take turns on a file lock).",
    ),
) -> None:
    """Run the web app for annotators, reviewers and admins.

    With no users yet it creates an admin named 'admin' and prints its password once.

    Example: [cyan]labelwise serve tickets --port 8000 --lease-minutes 30 --workers 2[/]
    """
    import uvicorn

    from labelwise.annotate import add_user, list_users
    from labelwise.web import create_app

    if not 0 < port < 65536:
        raise usage_error(f"--port must be 1 to 65535, got {port}.")
    if not (math.isfinite(lease_minutes) and 0 < lease_minutes <= 525_600):
        raise usage_error(
            f"--lease-minutes must be more than 0 and at most 525600 (a year), "
            f"got {lease_minutes:g}."
        )
    if workers is not None and not 1 <= workers <= 64:
        raise usage_error(f"--workers must be 1 to 64, got {workers}.")
    p = Project.open(project)
    workers = workers or default_workers(p.url)
    _check_port(host, port)
    _warn_if_readable(p)
    if not list_users(p):
        password = secrets.token_urlsafe(12)
        add_user(p, "admin", password, "admin", actor="serve")
        err.print(
            f"no users yet: created admin [bold]admin[/] with password [bold]{password}[/] "
            "(shown once; change it with 'labelwise users set DIR admin --new-password')",
            highlight=False,
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]listening on {host}: reachable from other machines[/]")
    if workers == 1:
        application = create_app(p, lease_minutes=lease_minutes)
        out.print(f"labelwise is serving {project} at http://{host}:{port}/  (Ctrl+C stops)")
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
        return
    import os

    from labelwise.web._app import WORKER_ENV

    p.close()
    values = (str(project.resolve()), repr(float(lease_minutes)), str(workers))
    os.environ.update(zip(WORKER_ENV, values, strict=True))  # the workers read them
    out.print(
        f"labelwise is serving {project} at http://{host}:{port}/ with {workers} workers  "
        "(Ctrl+C stops)"
    )
    uvicorn.run(
        "labelwise.web._app:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
