"""Command-line interface: ``labelwise COMMAND --help`` shows each command with an example."""

from labelwise.cli import bench as _bench  # noqa: F401  (registers commands)
from labelwise.cli import evaluate as _evaluate  # noqa: F401
from labelwise.cli import monitor as _monitor  # noqa: F401
from labelwise.cli import project as _project  # noqa: F401
from labelwise.cli import run as _run  # noqa: F401
from labelwise.cli import score as _score  # noqa: F401
from labelwise.cli import strategies as _strategies  # noqa: F401
from labelwise.cli import stream as _stream  # noqa: F401
from labelwise.cli import web as _web  # noqa: F401
from labelwise.cli._app import app, main

__all__ = ["app", "main"]
