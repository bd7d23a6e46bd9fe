"""The Typer application, shared console helpers and the error boundary."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from labelwise.errors import LabelwiseError

app = typer.Typer(
    name="labelwise",
    help="Decide which samples to label next, run the labeling loop, know when to stop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Wide enough for the result tables when output goes to a file or a pipe.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def usage_error(message: str) -> typer.Exit:
    """Print one error line and return the exit (code 2) to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True):
    """A rich progress bar on stderr; yields (set_total, advance).

    The bar appears only once ``set_total`` is called, so input errors found
    before the work starts print alone, on one line.
    """
    if not enabled:
        yield (lambda total: None), (lambda n=1: None)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    task = bar.add_task(description, total=None)

    started = []

    def set_total(total: int) -> None:
        bar.update(task, total=total)
        bar.start()
        started.append(True)

    try:
        yield set_total, (lambda n=1: bar.advance(task, n))
    finally:
        if started:
            bar.stop()


def main() -> None:
    """Console-script entry point: user errors become one line and exit code 2."""
    try:
        app()
    except LabelwiseError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
