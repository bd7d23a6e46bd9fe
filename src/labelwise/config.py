"""The pipeline file: one YAML that describes data, features, model, strategy, stopping, oracle.

Validated with pydantic; an error names the key, the bad value and what is allowed.

Example
-------
.. code-block:: yaml

    project: tickets-project
    task: classification
    classes: [ham, spam]
    data: {path: sms.csv, id_column: id, text_column: text, label_column: label}
    features: {method: auto}
    model: {name: logreg}
    strategy: {name: weighted, strengths: {margin: 1.0, novelty: 0.3}}
    batch_size: 20
    stopping: {label_budget: 200, target_metric: 0.97, diminishing_returns: {k: 3, delta: 0.005}}
    oracle: {type: simulated}
    outputs: {folder: tickets-out}
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labelwise.errors import InvalidInputError

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

    method: Literal["auto", "tabular", "tfidf", "minilm", "pixels"] = "auto"


class ModelConfig(_Strict):
    """Which model the loop trains."""

    name: Literal["logreg", "svm", "rf", "knn", "mlp"] = "logreg"


class StrategyConfig(_Strict):
    """Which strategy selects, with its strengths or parameters."""

    name: str = "margin"
    strengths: dict[str, float] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from labelwise.strategies import STRATEGIES

        if v not in STRATEGIES:
            close = difflib.get_close_matches(v, list(STRATEGIES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown strategy {v!r}; choose one of {sorted(STRATEGIES)}.{hint}")
        return v


class Diminishing(_Strict):
    """Stop when the best metric improved by less than delta over the last k rounds."""

    k: int = Field(3, ge=1)
    delta: float = Field(0.005, ge=0)


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
    seed: int = 0
    stopping: StoppingConfig
    oracle: OracleConfig = OracleConfig()
    outputs: OutputsConfig = OutputsConfig()

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
    loc = tuple(p for p in err["loc"] if not isinstance(p, int) or True)
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"{source}: unknown key {key!r}.{hint} Allowed here: {', '.join(allowed)}."
    if err["type"] == "missing":
        return f"{source}: missing key {key!r}."
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {key} = {value!r}: {msg}"


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; relative paths are relative to the file."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"pipeline file {path} not found.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise PipelineError(
            f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})."
        ) from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: the file must be a mapping of keys (project, data, ...).")
    try:
        cfg = Pipeline.model_validate(raw)
    except ValidationError as e:
        errs = e.errors()
        more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
        raise PipelineError(_describe(errs[0], str(path)) + more) from None
    base = path.parent
    cfg.project = base / cfg.project
    cfg.data.path = base / cfg.data.path
    if not cfg.data.path.exists():  # fail before any project folder is created
        raise PipelineError(f"{path}: data.path = {str(cfg.data.path)!r}: file not found.")
    cfg.outputs.folder = base / cfg.outputs.folder
    if cfg.oracle.folder is not None:
        cfg.oracle.folder = base / cfg.oracle.folder
    return cfg
