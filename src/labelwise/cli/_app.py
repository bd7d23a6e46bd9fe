"""The Typer application, shared console helpers and the error boundary."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from labelwise.errors import LabelwiseError

app = typer.Typer(
    name="labelwise",
    help="Decide which samples to label next, run the labeling loop, know when to stop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Wide enough for the result tables when output goes to a file or a pipe. No markup by
# default: ids, class names and paths are printed as typed (an id "[/x]" is not a tag);
# the few lines that style text pass markup=True and escape what they echo.
out = Console(width=None if sys.stdout.isatty() else 140, markup=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def usage_error(message: str) -> typer.Exit:
    """Print one error line and return the exit (code 2) to raise."""
    # escape: the message may echo user text such as an id "[/x]", which is not markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


class _RateColumn(ProgressColumn):
    """Items per second, e.g. ``812 samples/s`` (blank until rich has a speed)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s")


@contextmanager
def progress_bar(description: str, *, enabled: bool = True, unit: str | None = None):
    """A rich progress bar on stderr; yields (set_total, advance).

    The bar appears only once ``set_total`` is called, so input errors found
    before the work starts print alone, on one line. With ``unit`` (e.g.
    ``"samples"``) it also shows the rate (``812 samples/s``) and the time left.
    """
    if not enabled:
        yield (lambda total: None), (lambda n=1: None)
        return
    rate = [_RateColumn(unit), TimeRemainingColumn()] if unit else []
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
        TimeElapsedColumn(),
        console=err,
    )
    task = bar.add_task(escape(description), total=None)  # e.g. a file name

    started = []

    def set_total(total: int) -> None:
        bar.reset(task, total=total)  # the clock starts with the work, not with the bar
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
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
