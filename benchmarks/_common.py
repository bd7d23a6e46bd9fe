"""What every benchmark script shares: progress lines, package versions, JSON output."""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata

import numpy as np


def log(msg: str, prefix: str = "bench") -> None:
    """One progress line on stderr (stdout carries the JSON result)."""
    print(f"[{prefix} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def json_default(o):
    """Make numpy scalars and arrays JSON-serialisable."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def emit(result: dict) -> None:
    """Print the result object as the script's only stdout."""
    json.dump(result, sys.stdout, indent=2, default=json_default)
    sys.stdout.write("\n")
