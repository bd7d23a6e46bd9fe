"""A project's features as Parquet shards (``labelwise embed --shards N``).

The features artifact is then a small manifest, ``artifacts/features-vN.shards.json``
(its checksum in the database, like any artifact), naming a folder of shards,
``artifacts/features-shards-<digest>/part-00000.parquet`` ..., and each shard's
rows and SHA-256. Every shard has the column ``id`` (the sample's database id,
int64) and the float32 feature columns ``f_0`` ... ``f_{dim-1}``; rows are in
sample order, split into N shards of nearly equal size, written in row groups of
at most :data:`ROWS_PER_GROUP` rows (fewer for wide features: about 32 MiB each).

The shards are written one at a time (one shard's columns are copied, never the
whole matrix), into a hidden folder renamed into place once complete; the folder
is named by the digest of its shards, so the manifest never names a half-written one.
``labelwise select --engine local|ray`` and ``labelwise score --data FOLDER`` read
the shards; every other command reads them back into one matrix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from labelwise.errors import InvalidInputError, shorten
from labelwise.store import Project, sha256_of

__all__ = [
    "ID_COLUMN",
    "ROWS_PER_GROUP",
    "check_shards",
    "feature_shards",
    "is_sharded",
    "read_sharded",
    "write_sharded",
]

ID_COLUMN = "id"
#: Most rows of one Parquet row group (wide features get fewer: about 32 MiB a group).
ROWS_PER_GROUP = 65_536
_GROUP_BYTES = 32 << 20
SUFFIX = ".shards.json"
FORMAT = "labelwise.feature-shards/1"


def check_shards(shards, n_samples: int) -> int:
    """``--shards`` as an int within [1, n_samples], or a one-line error naming the flag."""
    ok = isinstance(shards, int | np.integer) and not isinstance(shards, bool)
    if not ok or not 1 <= int(shards) <= n_samples:
        raise InvalidInputError(
            f"--shards must be a whole number from 1 to the number of samples "
            f"({n_samples:,}), got {shorten(shards)}."
        )
    return int(shards)


def _rows_per_group(dim: int) -> int:
    return int(max(1_024, min(ROWS_PER_GROUP, _GROUP_BYTES // (4 * max(dim, 1)))))


def is_sharded(art) -> bool:
    """Whether a features artifact is a shard manifest (not one ``.npz`` matrix)."""
    return art is not None and str(art.path).endswith(SUFFIX)


def write_sharded(project: Project, X, sample_ids: np.ndarray, n_shards: int, info: dict):
    """Write ``X`` as ``n_shards`` Parquet shards and record them as a features version.

    ``X`` (n_samples, dim) is read one shard at a time, cast to float32 per shard.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, dim = X.shape
    names = [f"f_{j}" for j in range(dim)]
    group = _rows_per_group(dim)
    art_dir = project.path / "artifacts"
    tmp = Path(tempfile.mkdtemp(dir=art_dir, prefix=".features-shards-"))
    try:
        bounds = np.linspace(0, n, n_shards + 1).astype(np.int64)
        entries = []
        for s in range(n_shards):
            lo, hi = int(bounds[s]), int(bounds[s + 1])
            part = np.asarray(X[lo:hi], dtype=np.float32)  # one shard's rows, not the pool
            cols = [pa.array(sample_ids[lo:hi].astype(np.int64, copy=False))]
            cols += [pa.array(np.ascontiguousarray(part[:, j])) for j in range(dim)]
            name = f"part-{s:05d}.parquet"
            pq.write_table(
                pa.Table.from_arrays(cols, names=[ID_COLUMN, *names]),
                tmp / name,
                row_group_size=group,
            )
            del part, cols
            entries.append({"file": name, "rows": hi - lo, "sha256": sha256_of(tmp / name)})
        digest = hashlib.sha256("".join(e["sha256"] for e in entries).encode()).hexdigest()
        folder = f"features-shards-{digest[:16]}"
        final = art_dir / folder
        if final.exists():  # the very same shards, written before: keep those
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "format": FORMAT,
        "folder": folder,
        "id_column": ID_COLUMN,
        "dim": int(dim),
        "n_samples": int(n),
        "rows_per_group": group,
        "shards": entries,
    }
    data = json.dumps(manifest, indent=1).encode()
    return project.add_artifact("features", data, SUFFIX, {**info, "shards": n_shards})


def feature_shards(project: Project, art=None) -> list[str] | None:
    """Absolute paths of the newest features' shards, each checked; None when not sharded.

    Raises
    ------
    ProjectError
        A shard is missing or does not match its recorded checksum.
    """
    from labelwise.store import ProjectError

    art = project.latest_artifact("features") if art is None else art
    if not is_sharded(art):
        return None
    manifest = json.loads(project.artifact_path(art).read_text())
    folder = project.path / "artifacts" / manifest["folder"]
    paths = []
    for e in manifest["shards"]:
        p = folder / e["file"]
        if not p.is_file():
            raise ProjectError(
                f"feature shard {p} is missing; recompute the features with "
                f"'labelwise embed {project.path} --shards {len(manifest['shards'])}'."
            )
        if sha256_of(p) != e["sha256"]:
            raise ProjectError(
                f"feature shard {p} does not match its recorded checksum; it was changed "
                f"outside labelwise. Recompute the features with 'labelwise embed "
                f"{project.path} --shards {len(manifest['shards'])}'."
            )
        paths.append(str(p))
    return paths


def read_sharded(project: Project, art) -> tuple[np.ndarray, np.ndarray]:
    """(X, sample ids) of sharded features, read shard by shard into one matrix."""
    import pyarrow.parquet as pq

    paths = feature_shards(project, art)
    metas = [pq.ParquetFile(p).metadata for p in paths]
    n = sum(m.num_rows for m in metas)
    dim = metas[0].num_columns - 1
    X = np.empty((n, dim), dtype=np.float32)
    ids = np.empty(n, dtype=np.int64)
    at = 0
    for p in paths:
        table = pq.read_table(p)
        rows = table.num_rows
        ids[at : at + rows] = table.column(ID_COLUMN).to_numpy()
        for j in range(dim):
            X[at : at + rows, j] = table.column(f"f_{j}").to_numpy()
        at += rows
        del table
    return X, ids
