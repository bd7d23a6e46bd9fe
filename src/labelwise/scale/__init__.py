"""Pools beyond one process: score and select on Parquet shards, in-process or on Ray.

The same strategies as the rest of labelwise, on a pool that never sits in one
process: each shard (or batch of rows) is scored where it is read, and the driver
merges small per-shard summaries (the best rows of each, or its k-center core-set).
The ``ray`` engine needs the optional extra: ``pip install "labelwise[ray]"``.
"""

from labelwise.scale._coreset import APPROXIMATION_FACTOR
from labelwise.scale._engine import ENGINES, RAY_INSTALL
from labelwise.scale._score import SCORE_STRATEGIES, ScoreResult, load_model_file, score_shards
from labelwise.scale._shards import ShardSet, open_shards

__all__ = [
    "APPROXIMATION_FACTOR",
    "ENGINES",
    "RAY_INSTALL",
    "SCORE_STRATEGIES",
    "ScoreResult",
    "ShardSet",
    "load_model_file",
    "open_shards",
    "score_shards",
]
