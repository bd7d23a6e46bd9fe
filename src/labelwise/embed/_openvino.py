"""Models converted to OpenVINO once, cached on disk with checksums, and run batch by batch.

The two offline encoders (MiniLM for text, EfficientNet-Lite0 for images) convert their
torch module with ``openvino.convert_model`` at first use and keep the IR (``.xml`` graph,
``.bin`` weights) under :func:`cache_dir` ``/openvino``:

- **Key.** The file name carries the first 16 hex digits of a *source key*: the caller's
  SHA-256 over the weights it converts, the export version and the converting package
  versions. Changed weights or versions give another name, so a new conversion.
- **Checksums.** A ``.json`` beside the IR records the SHA-256 of both files; they are
  verified on every load, and a missing, half-written or changed file is converted again.
- **Atomic.** The files are written to a temporary folder and renamed into place, the
  checksums last: a reader sees the old model, no model, or the new one whole. An
  unwritable cache folder costs a conversion per run, in a temporary folder.
- **Running.** :func:`run_pipelined` keeps one request per stream busy and collects
  results on the calling thread in the order they were started. No Python callback
  runs on OpenVINO's threads (a callback waiting for the GIL can hang the compiled
  model's teardown).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "Encoder",
    "cache_dir",
    "cached_ir",
    "compile_cpu",
    "read_checked",
    "run_pipelined",
    "save_ir",
]


def cache_dir() -> Path:
    """Folder for files labelwise derives once and reuses (the converted models).

    ``$LABELWISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/labelwise``, else
    ``~/.cache/labelwise``.
    """
    env = os.environ.get("LABELWISE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labelwise"


def read_checked(xml: Path, meta: Path) -> tuple[bytes, bytes] | None:
    """The cached model's two files if their recorded checksums hold, else None.

    None means missing, half-written or changed: the caller converts it again.
    """
    try:
        want = json.loads(meta.read_text())
        graph, weights = xml.read_bytes(), xml.with_suffix(".bin").read_bytes()
        ok = (
            hashlib.sha256(graph).hexdigest() == want["xml_sha256"]
            and hashlib.sha256(weights).hexdigest() == want["bin_sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (graph, weights) if ok else None


def save_ir(model, xml: Path, meta: Path, info: dict) -> tuple[bytes, bytes]:
    """Write ``model`` as ``xml`` (+ ``.bin``) and its checksums as ``meta``, atomically.

    ``info`` is recorded in ``meta`` next to the checksums. Weights stay fp32
    (``compress_to_fp16=False``: fp16 would cost precision).
    """
    import openvino as ov

    with tempfile.TemporaryDirectory(dir=xml.parent) as tmp:
        tmp_xml = Path(tmp) / "model.xml"
        ov.save_model(model, tmp_xml, compress_to_fp16=False)
        graph, weights = tmp_xml.read_bytes(), tmp_xml.with_suffix(".bin").read_bytes()
        record = {
            "xml_sha256": hashlib.sha256(graph).hexdigest(),
            "bin_sha256": hashlib.sha256(weights).hexdigest(),
            **info,
        }
        Path(tmp, "meta.json").write_text(json.dumps(record))
        os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp_xml, xml)
        os.replace(Path(tmp, "meta.json"), meta)
    return graph, weights


def cached_ir(stem: str, key: str, convert: Callable[[], object], info: dict):
    """The IR of ``stem`` for source ``key``: from the cache when its checksums hold.

    Parameters
    ----------
    stem : str
        File name prefix, e.g. ``"all-MiniLM-L6-v2-mixed"``.
    key : str
        Hex source key (see the module notes); its first 16 digits name the files.
    convert : callable
        Returns the ``openvino.Model`` to store when the cache has no valid copy.
    info : dict
        Recorded in the ``.json`` beside the checksums (with ``source: key``).

    Returns
    -------
    (graph, weights) : tuple of bytes
        The ``.xml`` and ``.bin`` contents.
    """
    folder = cache_dir() / "openvino"
    xml = folder / f"{stem}-{key[:16]}.xml"
    meta = xml.with_suffix(".json")
    data = read_checked(xml, meta)
    if data is not None:
        return data
    model = convert()
    info = {"source": key, **info}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return save_ir(model, xml, meta, info)
    except OSError:  # no writable cache: save into a temporary folder, use it once
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            return save_ir(model, t / xml.name, t / meta.name, info)


def compile_cpu(ir: tuple[bytes, bytes], threads: int):
    """Compile the IR for the CPU in fp32: ``threads`` streams of one thread each."""
    import openvino as ov

    core = ov.Core()
    graph, weights = ir
    return core.compile_model(
        core.read_model(graph.decode(), ov.Tensor(np.frombuffer(weights, dtype=np.uint8))),
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": "f32",
            "NUM_STREAMS": str(threads),
            "INFERENCE_NUM_THREADS": str(threads),
        },
    )


def run_pipelined(compiled, batches: Iterable[tuple[object, dict]], threads: int) -> Iterator:
    """Run ``(key, inputs)`` batches side by side; yield ``(key, first output)`` in order.

    At least ``threads`` requests run at once; each is collected before it takes the
    next batch, so the yielded array (a view of the request's output) is valid until
    the generator is resumed: copy it out before that. The next batch's inputs are
    prepared (``batches`` advanced) while the running requests compute; when that
    raises, the running requests are waited for and the error goes to the caller.
    """
    n_requests = max(threads, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    requests = [compiled.create_infer_request() for _ in range(n_requests)]
    running: deque = deque()  # (request, key), oldest first
    try:
        for k, (key, inputs) in enumerate(batches):
            if len(running) == n_requests:
                request, done = running.popleft()
                request.wait()
                yield done, request.get_output_tensor(0).data
            request = requests[k % n_requests]
            request.start_async(inputs)
            running.append((request, key))
        while running:
            request, done = running.popleft()
            request.wait()
            yield done, request.get_output_tensor(0).data
    finally:  # an error preparing a batch (an unreadable image): let the others finish first
        for request, _ in running:
            request.wait()


class Encoder:
    """The part the MiniLM encoder and the image backbone share.

    Which backend runs, the line that says so, the batch runner, and the L2
    normalisation of what the runner returns.
    """

    def __init__(self, backend: str, description: str, run, *, batch_size: int):
        self.backend = backend
        self.description = description
        self._run = run
        self.batch_size = batch_size

    @staticmethod
    def _unit_rows(X):
        """Rows scaled to unit length in place (torch.nn.functional.normalize's eps)."""
        import numpy as np

        X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        return X
