"""``labelwise strategies`` and ``labelwise models``: what can be named where."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from labelwise.cli._app import app, out


@app.command("strategies")
def strategies_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every registered strategy with what it needs and one line on what it does.

    Example: [cyan]labelwise strategies --json[/]
    """
    from labelwise.strategies import STRATEGIES

    rows = [
        {"name": s.name, "task": s.task, "needs": sorted(s.needs), "summary": s.summary}
        for s in STRATEGIES.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table(title="strategies (use the name with --strategies / --strategy)")
    for c in ("name", "needs", "what it does"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["name"], ", ".join(r["needs"]) or "-", r["summary"])
    out.print(t)


@app.command("models")
def models_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the model names accepted by --model.

    Example: [cyan]labelwise models[/]
    """
    from labelwise.models import model_names

    models = model_names()
    if as_json:
        typer.echo(json.dumps(models, indent=2))
        return
    t = Table(title="models (use the name with --model)")
    t.add_column("name")
    t.add_column("model")
    for k, v in models.items():
        t.add_row(k, v)
    out.print(t)
