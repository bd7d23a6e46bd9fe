"""Run one function over every shard: in this process (``local``) or on a Ray cluster (``ray``).

Both engines call the same functions on the same columns; only who reads the rows
and where the function runs differ:

- ``map_batches(shards, columns, fn)``: ``fn(batch) -> dict of arrays`` on batches of
  rows, with a ``path`` column naming each row's shard. Locally the shards are
  read with pyarrow, batch by batch; on Ray with Ray Data
  (``read_parquet(...).map_batches(fn)``) on every worker. The driver receives only
  what ``fn`` returns (a few rows per batch), so it never holds the pool.
- ``map_shards(shards, fn)``: ``fn(path) -> object`` once per shard (a Ray task per
  shard), for work that needs a whole shard at once.

Ray is the optional ``ray`` extra, imported only here. Without ``address`` a local
Ray cluster with the machine's cores is started and shut down afterwards; an
already running cluster (``ray.init`` by the caller) is used as it is. A worker that
dies is replaced and its task rerun (Ray retries system failures); the results do
not depend on which worker ran what.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from labelwise.errors import LabelwiseError, MissingRequirementError
from labelwise.scale._shards import ShardSet, read_batches

__all__ = ["ENGINES", "RAY_INSTALL", "check_engine", "map_batches", "map_shards", "ray_session"]

ENGINES = ("local", "ray")
RAY_INSTALL = 'pip install "labelwise[ray]"'


def check_engine(engine: str) -> None:
    """Refuse an unknown engine; ``ray`` without Ray installed gives the pip command."""
    from labelwise.errors import UnknownNameError, did_you_mean

    if engine not in ENGINES:
        raise UnknownNameError(
            f"unknown engine {engine!r}; choose local or ray." + did_you_mean(engine, ENGINES)
        )
    if engine == "ray":
        _ray()


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the data extra: pyarrow, pandas)
    except ImportError as e:
        raise MissingRequirementError(
            f"--engine ray needs Ray ({e.name or 'ray'} is not installed); install it with: "
            f"{RAY_INSTALL}"
        ) from e
    return ray


@contextmanager
def ray_session(address: str | None = None):
    """Connect to ``address``, or start a local cluster; yields the ``ray`` module.

    A cluster this started is shut down on exit; one already connected is left running.
    """
    ray = _ray()
    started = False
    if not ray.is_initialized():
        if address is None:
            # a local cluster: no dashboard, and no token notice on every run
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _labelwise_error(exc: BaseException) -> LabelwiseError | None:
    """The LabelwiseError a worker raised, found inside Ray's wrappers (or None)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, LabelwiseError) and type(e).__module__.startswith("labelwise"):
            return e
        stack += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


@contextmanager
def _worker_errors():
    """Re-raise a worker's LabelwiseError as itself (one line), not as Ray's wrapper."""
    try:
        yield
    except LabelwiseError:
        raise
    except Exception as e:
        found = _labelwise_error(e)
        if found is None:
            raise
        raise found from None


def map_batches(
    shards: ShardSet,
    columns: list[str],
    fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    *,
    engine: str = "local",
    batch_size: int = 65_536,
    address: str | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``fn``'s output for every batch of rows of every shard.

    Each batch holds ``columns`` plus ``path`` (the absolute path of each row's shard).
    Outputs arrive in no particular order on Ray.
    """
    check_engine(engine)
    if engine == "local":
        for path in shards.paths:
            for batch in read_batches(path, columns, batch_size):
                n = len(batch[columns[0]])
                # a read-only view of one object: no n-element copy
                batch["path"] = np.broadcast_to(np.array([path], dtype=object), (n,))
                yield fn(batch)
        return
    _settle_fsspec_http()
    with ray_session(address) as ray, _worker_errors(), _quiet_ray_data():
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the caller shows one bar for the whole run
        # Ray 2.60's DataSourceV2 lists Parquet footers in threads of a worker, which race
        # on the fsspec import above (in the worker, where we cannot settle it)
        ctx.use_datasource_v2 = False
        ds = ray.data.read_parquet(list(shards.paths), include_paths=True)
        ds = ds.select_columns([*columns, "path"])
        ds = ds.map_batches(_WithAbsolutePaths(fn), batch_size=batch_size, batch_format="numpy")
        yield from ds.iter_batches(batch_size=None, batch_format="numpy")


def _settle_fsspec_http() -> None:
    """Import fsspec's HTTP filesystem once, before Ray Data's threads race to import it.

    Ray Data resolves paths in several threads, each importing
    ``fsspec.implementations.http`` (to tell HTTP from local paths). Without aiohttp
    that import fails half-way, and a thread racing another one sees the half-made
    module: an ImportError Ray does not expect, instead of the ModuleNotFoundError it
    catches. Mark the module missing for good, so every thread gets the latter.
    """
    try:
        import fsspec.implementations.http  # noqa: F401
    except ImportError:
        sys.modules.setdefault("fsspec.implementations.http", None)


class _WithAbsolutePaths:
    """Ray Data may report a shard's path without its leading ``/``: restore it."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, batch):
        paths = batch["path"]
        uniq, inv = np.unique(paths.astype(str), return_inverse=True)
        fixed = np.asarray([os.path.abspath(os.sep + p.lstrip(os.sep)) for p in uniq], dtype=object)
        batch["path"] = fixed[inv]
        return self.fn(batch)


@contextmanager
def _quiet_ray_data():
    """Ray Data logs every execution plan, and that its own bars are off; ours says enough."""
    quiet = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    before = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def map_shards(
    shards: ShardSet,
    fn: Callable[[str], object],
    *,
    engine: str = "local",
    address: str | None = None,
) -> Iterator[tuple[int, object]]:
    """Yield ``(shard index, fn(path))`` for every shard; one Ray task per shard on Ray."""
    check_engine(engine)
    if engine == "local":
        for i, path in enumerate(shards.paths):
            yield i, fn(path)
        return
    with ray_session(address) as ray, _worker_errors():
        task = ray.remote(max_retries=3)(_call)
        pending = {task.remote(fn, path): i for i, path in enumerate(shards.paths)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)


def _call(fn, path):
    return fn(path)
