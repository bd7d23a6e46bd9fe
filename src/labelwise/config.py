"""The pipeline file: one YAML that describes data, features, model, strategy, stopping, oracle.

Validated with pydantic; an error names the key, the bad value (cut to a few dozen
characters) and what is allowed. The file is read with a safe loader that refuses
YAML alias bombs ("billion laughs"), deep nesting and files over 1 MiB.

Example
-------
.. code-block:: yaml

    project: tickets-project
    task: classification
    classes: [ham, spam]
    data: {path: sms.csv, id_column: id, text_column: text, label_column: label}
    features: {method: auto}
    model: {name: logreg}       # or {external: preds.parquet}: a model outside labelwise
    strategy: {name: weighted, strengths: {margin: 1.0, novelty: 0.3}}
    batch_size: 20
    evaluation: {size: 500}    # a random evaluation set, labeled first, never trained on
    random_share: 0.1          # the random arm: 10 % of each batch drawn at random
    stopping: {label_budget: 1000, diminishing_returns: {k: 3, delta: 0.01}}
    oracle: {type: simulated}
    outputs: {folder: tickets-out}
    monitor: {data: "prod/*.csv", enqueue: 20}   # production batches: see MonitorConfig
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labelwise.errors import InvalidInputError, LabelwiseError, clip, shorten

__all__ = ["Pipeline", "load_pipeline", "PipelineError"]


class PipelineError(InvalidInputError):
    """A pipeline file that cannot be used as written."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Where the pool comes from."""

    path: Path
    id_column: str | None = None
    text_column: str | None = None
    label_column: str | None = Field(
        None, description="Known labels: the simulated oracle reveals them; never imported."
    )


class FeaturesConfig(_Strict):
    """How features are computed."""

    method: Literal["auto", "tabular", "tfidf", "minilm", "pixels", "efficientnet_lite0"] = "auto"


class ModelConfig(_Strict):
    """Which model the loop trains, or ``external``: a predictions file a model elsewhere writes.

    ``external`` (relative to the pipeline file) is read again at every round, so
    the outside model can rewrite it between rounds; see
    :mod:`labelwise.loop._external` for its formats. With it nothing is trained.
    """

    name: Literal[
        "logreg", "logreg_cv", "svm", "rf", "knn", "mlp", "torch_mlp", "torch_head", "torch_cnn"
    ] = "logreg"
    external: Path | None = Field(
        None, description="Probabilities from a model outside labelwise (no train step)."
    )

    @model_validator(mode="after")
    def _one_source(self):
        if self.external is not None and "name" in self.model_fields_set:
            raise ValueError(
                "give model.name (a model labelwise trains) or model.external (a predictions "
                "file), not both."
            )
        return self


class StrategyConfig(_Strict):
    """Which strategy selects, with its strengths or parameters."""

    name: str = "auto"
    # params before strengths: strengths may name metadata criteria that params define
    params: dict[str, Any] = Field(default_factory=dict)
    strengths: dict[str, float] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from labelwise.strategies import STRATEGIES

        if v not in STRATEGIES:
            close = difflib.get_close_matches(v, list(STRATEGIES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown strategy {shorten(v)}; choose one of {sorted(STRATEGIES)}.{hint}"
            )
        return v

    @field_validator("strengths", "params")
    @classmethod
    def _takes(cls, v, info: ValidationInfo):
        """Names the strategy does not read are refused here, not silently ignored."""
        from labelwise.strategies import get_strategy

        name = info.data.get("name")
        if name is None or not v:  # the name itself was refused, or nothing to check
            return v
        if info.field_name == "strengths":  # as the run passes them: params, then strengths
            params = {**info.data.get("params", {}), "strengths": v}
        else:
            params = v
        try:
            get_strategy(name, **params)
        except LabelwiseError as e:
            raise ValueError(str(e)) from None
        return v


class Diminishing(_Strict):
    """Stop on a plateau of the evaluation metric over the last k rounds.

    The gain from k rounds ago, measured on the same evaluation labels, has a 95 %
    interval; the rule fires once that interval includes zero and stays below delta.
    """

    k: int = Field(3, ge=1)
    delta: float = Field(0.005, ge=0)


class EvaluationConfig(_Strict):
    """The random evaluation set: reserved at the start, labeled first by the oracle."""

    size: int = Field(ge=1)


class StoppingConfig(_Strict):
    """Stopping rules; any that fires ends the run."""

    label_budget: int | None = Field(None, ge=1)
    target_metric: float | None = Field(None, gt=0, le=1)
    diminishing_returns: Diminishing | None = None
    max_rounds: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _some_rule(self):
        if not any(
            [self.label_budget, self.target_metric, self.diminishing_returns, self.max_rounds]
        ):
            raise ValueError(
                "give at least one stopping rule: label_budget, target_metric, "
                "diminishing_returns or max_rounds."
            )
        return self


class OracleConfig(_Strict):
    """Who labels: the known labels (simulated) or files dropped into a folder."""

    type: Literal["simulated", "file"] = "simulated"
    folder: Path | None = None


class MonitorConfig(_Strict):
    """Production batches to monitor: each new one once, after a model is trained.

    ``data`` is a folder (every CSV, Parquet or JSONL file in it, or its image
    sub-folders) or a glob (``prod/batch-*.csv``), relative to the pipeline file.
    A batch's ``enqueue`` most informative samples join the pool and form the next
    round; the simulated oracle labels them from the batch's ``data.label_column``.
    """

    data: str
    enqueue: int = Field(20, ge=0)
    reference: str | None = Field(
        None, description="pool, eval, train, labeled or a file; default pool."
    )
    id_column: str | None = None


class OutputsConfig(_Strict):
    """Where batches, the status JSON and the learning curve go."""

    folder: Path = Path("labelwise-run")


class Pipeline(_Strict):
    """The whole pipeline file."""

    project: Path
    task: Literal["classification"] = "classification"
    classes: list[str] = Field(min_length=2)
    db: str | None = None
    data: DataConfig
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    strategy: StrategyConfig = StrategyConfig()
    batch_size: int = Field(20, ge=1)
    random_share: float = Field(0.0, ge=0, le=1)
    evaluation: EvaluationConfig | None = None
    seed: int = 0
    stopping: StoppingConfig
    oracle: OracleConfig = OracleConfig()
    outputs: OutputsConfig = OutputsConfig()
    monitor: MonitorConfig | None = None
    _source: str = PrivateAttr("the pipeline file")

    @property
    def source(self) -> str:
        """The file this pipeline was read from, for error messages."""
        return self._source

    @model_validator(mode="after")
    def _oracle_needs(self):
        if self.oracle.type == "simulated" and not self.data.label_column:
            raise ValueError("oracle type 'simulated' needs data.label_column (the known labels).")
        if self.oracle.type == "file" and self.oracle.folder is None:
            raise ValueError("oracle type 'file' needs oracle.folder (where label files arrive).")
        return self


def _fields_at(loc: tuple) -> list[str]:
    model: Any = Pipeline
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        args = getattr(model, "__args__", ())
        model = next((a for a in args if hasattr(a, "model_fields")), model)
    return list(getattr(model, "model_fields", {}))


def _describe(err: dict, source: str) -> str:
    # every user value echoed here (keys too) goes through shorten(): bounded length and work
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"{source}: unknown key {shorten(key)}.{hint} Allowed here: {', '.join(allowed)}."
    if err["type"] == "missing":
        return f"{source}: missing key {shorten(key)}."
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {clip(key, 80)} = {shorten(value)}: {clip(msg, 1000)}"


#: Limits of the pipeline file's reader: a pipeline is a few dozen lines.
MAX_FILE_BYTES = 1 << 20
MAX_ALIASES = 100
MAX_NODES = 10_000  # nodes of the document with every alias expanded
MAX_DEPTH = 50


class _Refused(Exception):
    def __init__(self, message: str, mark):
        super().__init__(message)
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses alias bombs, recursive aliases and deep nesting.

    PyYAML shares an aliased node instead of copying it, so a "billion laughs" file
    loads small, but anything that walks the result (validation, ``repr`` in a
    message) walks the billion. While composing, this counts the size and depth of
    every node with aliases expanded and stops at :data:`MAX_NODES` /
    :data:`MAX_DEPTH`, and at :data:`MAX_ALIASES` aliases.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} aliases (*name)", event.start_mark)
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._sizes:
                raise _Refused(
                    f"alias *{clip(event.anchor)} refers to a node that contains it",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        known = [self._sizes[id(c)] for c in children]
        size = 1 + sum(k[0] for k in known)
        height = 1 + max((k[1] for k in known), default=0)
        if size > MAX_NODES or height > MAX_DEPTH:
            raise _Refused(
                f"with its aliases (*name) expanded, this node holds over {MAX_NODES:,} "
                f"values or {MAX_DEPTH} levels; a pipeline file needs a few dozen",
                node.start_mark,
            )
        self._sizes[id(node)] = (size, height)
        return node


def _read_yaml(path: Path):
    if not path.is_file():
        raise PipelineError(f"pipeline file {path} is not a file.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PipelineError(
            f"{path}: {size:,} bytes; a pipeline file is at most {MAX_FILE_BYTES:,} bytes."
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PipelineError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8.") from None
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise PipelineError(f"{path}, line {e.mark.line + 1}: refused: {e}.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise PipelineError(f"{path}{where}: not valid YAML ({clip(str(problem), 200)}).") from None
    finally:
        loader.dispose()


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; relative paths are relative to the file."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"pipeline file {path} not found.")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: the file must be a mapping of keys (project, data, ...).")
    try:
        cfg = Pipeline.model_validate(raw)
    except ValidationError as e:
        errs = e.errors()
        more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
        raise PipelineError(_describe(errs[0], str(path)) + more) from None
    cfg._source = str(path)
    base = path.parent
    cfg.project = base / cfg.project
    cfg.data.path = base / cfg.data.path
    if not cfg.data.path.exists():  # fail before any project folder is created
        raise PipelineError(f"{path}: data.path = {shorten(str(cfg.data.path))}: file not found.")
    cfg.outputs.folder = base / cfg.outputs.folder
    if cfg.model.external is not None:
        from labelwise.loop._external import EXTERNAL_FORMATS, check_proba_strategy
        from labelwise.strategies import get_strategy

        cfg.model.external = base / cfg.model.external
        suffix = cfg.model.external.suffix.lower()
        if suffix not in EXTERNAL_FORMATS:
            raise PipelineError(
                f"{path}: model.external = {shorten(str(cfg.model.external))}: unknown "
                f"extension {suffix or '(none)'!r}; give a {', '.join(EXTERNAL_FORMATS)} file."
            )
        try:
            check_proba_strategy(get_strategy(cfg.strategy.name), flag="model.external")
        except LabelwiseError as e:
            raise PipelineError(f"{path}: strategy.name: {e}") from None
    if cfg.oracle.folder is not None:
        cfg.oracle.folder = base / cfg.oracle.folder
    if cfg.monitor is not None:
        cfg.monitor.data = str(base / cfg.monitor.data)
        ref = cfg.monitor.reference
        if ref is not None and ref not in ("pool", "eval", "train", "labeled"):
            cfg.monitor.reference = str(base / ref)
    return cfg
