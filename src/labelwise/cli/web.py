"""Web commands: serve (the labeling app) and users (accounts)."""

from __future__ import annotations

import json
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
    out.print(f"added {role} [bold]{name}[/]", highlight=False)


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

    Example: [cyan]labelwise users set tickets bob --role reviewer[/]
    """
    from labelwise.annotate import update_user

    if role is None and active is None and not new_password:
        raise usage_error("say what to change: --role, --active/--disabled or --new-password.")
    update_user(
        Project.open(project),
        name,
        role=role,
        active=active,
        password=_password(None) if new_password else None,
        actor="cli",
    )
    out.print(f"updated {name}", highlight=False)


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


@app.command("serve")
def serve_cmd(
    project: Path = DIR_ARG,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 opens it to the network)."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Run the web app for annotators, reviewers and admins.

    With no users yet it creates an admin named 'admin' and prints its password once.

    Example: [cyan]labelwise serve tickets --port 8000[/]
    """
    import uvicorn

    from labelwise.annotate import add_user, list_users
    from labelwise.web import create_app

    if not 0 < port < 65536:
        raise usage_error(f"--port must be 1 to 65535, got {port}.")
    p = Project.open(project)
    _check_port(host, port)
    if not list_users(p):
        password = secrets.token_urlsafe(12)
        add_user(p, "admin", password, "admin", actor="serve")
        err.print(
            f"no users yet: created admin [bold]admin[/] with password [bold]{password}[/] "
            "(shown once; change it with 'labelwise users set DIR admin --new-password')",
            highlight=False,
        )
    application = create_app(p)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]listening on {host}: reachable from other machines[/]")
    out.print(f"labelwise is serving {project} at http://{host}:{port}/  (Ctrl+C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
