"""The OpenVINO model cache: converted once, checked on load, converted again when a file changes.

The conversions here are a tiny stand-in graph (a ReLU), so the cache logic is tested in
milliseconds; the real models' conversions are tested in ``test_minilm.py`` and
``test_backbone_openvino.py``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

ov = pytest.importorskip("openvino")


def _relu_model(width: int = 4):
    import openvino.opset13 as ops

    x = ops.parameter([-1, width], ov.Type.f32)
    return ov.Model([ops.relu(x)], [x])


@pytest.fixture
def converts(tmp_path, monkeypatch):
    """A fresh cache folder and a converter that counts its calls."""
    monkeypatch.setenv("LABELWISE_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def convert():
        calls.append(1)
        return _relu_model()

    return calls, convert, tmp_path / "cache" / "openvino"


def _run(ir, rows):
    from labelwise.embed._openvino import compile_cpu, run_pipelined

    compiled = compile_cpu(ir, 2)
    out = {}
    for key, result in run_pipelined(compiled, ((k, {0: r}) for k, r in enumerate(rows)), 2):
        out[key] = np.array(result)
    return [out[k] for k in range(len(rows))]


def _checksums_hold(xml) -> bool:
    meta = json.loads(xml.with_suffix(".json").read_text())
    return (
        meta["xml_sha256"] == hashlib.sha256(xml.read_bytes()).hexdigest()
        and meta["bin_sha256"] == hashlib.sha256(xml.with_suffix(".bin").read_bytes()).hexdigest()
    )


def test_converted_once_then_read_back_and_converted_again_when_a_file_changes(converts):
    from labelwise.embed._openvino import cached_ir

    calls, convert, folder = converts
    key = "ab" * 32
    first = cached_ir("relu", key, convert, {"model": "relu"})
    assert len(calls) == 1
    xml = folder / f"relu-{key[:16]}.xml"
    meta = json.loads(xml.with_suffix(".json").read_text())
    assert meta["source"] == key and meta["model"] == "relu"
    assert _checksums_hold(xml)
    assert cached_ir("relu", key, convert, {"model": "relu"}) == first and len(calls) == 1
    # the graph edited on disk (its checksum no longer holds): converted again, whole
    xml.write_bytes(xml.read_bytes().replace(b"ReLU", b"Relu", 1) + b" ")
    again = cached_ir("relu", key, convert, {"model": "relu"})
    assert len(calls) == 2 and _checksums_hold(xml)
    x = np.array([[-1.0, 2.0, -3.0, 4.0]], dtype=np.float32)
    assert [r.tolist() for r in _run(again, [x])] == [[[0.0, 2.0, 0.0, 4.0]]]
    # the checksum file half-written, as after a crash: converted again
    xml.with_suffix(".json").write_text('{"xml_sha256": "')
    cached_ir("relu", key, convert, {"model": "relu"})
    assert len(calls) == 3 and _checksums_hold(xml)
    # another source key (changed weights): files of their own, the old ones kept
    cached_ir("relu", "cd" * 32, convert, {"model": "relu"})
    assert len(calls) == 4
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"relu-{k}.{ext}"
        for k in ("abababababababab", "cdcdcdcdcdcdcdcd")
        for ext in ("xml", "bin", "json")
    )


def test_an_unwritable_cache_converts_into_a_temporary_folder(converts, monkeypatch, tmp_path):
    from labelwise.embed._openvino import cached_ir

    calls, convert, _ = converts
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LABELWISE_CACHE_DIR", str(blocker))
    ir = cached_ir("relu", "ef" * 32, convert, {})
    x = np.array([[-1.0, 2.0, -3.0, 4.0]], dtype=np.float32)
    [y] = _run(ir, [x])
    np.testing.assert_array_equal(y, [[0.0, 2.0, 0.0, 4.0]])
    assert len(calls) == 1 and blocker.read_text() == "not a folder"


def test_run_pipelined_returns_every_batch_in_order(converts):
    """More batches than requests, of different sizes: each result belongs to its batch."""
    from labelwise.embed._openvino import cached_ir

    _, convert, _ = converts
    ir = cached_ir("relu", "01" * 32, convert, {})
    rng = np.random.default_rng(0)
    rows = [rng.normal(size=(n, 4)).astype(np.float32) for n in (3, 1, 5, 2, 4, 1, 3, 2, 2)]
    for got, x in zip(_run(ir, rows), rows, strict=True):
        np.testing.assert_array_equal(got, np.maximum(x, 0))


def test_an_error_preparing_a_batch_reaches_the_caller_after_the_running_requests(converts):
    """A batch generator that fails mid-way (an unreadable image): the error, no hang."""
    from labelwise.embed._openvino import cached_ir, compile_cpu, run_pipelined

    _, convert, _ = converts
    compiled = compile_cpu(cached_ir("relu", "02" * 32, convert, {}), 2)
    x = np.ones((3, 4), dtype=np.float32)

    def batches():
        for k in range(5):
            yield k, {0: x}
        raise OSError("image 11 cannot be read")

    got = []
    with pytest.raises(OSError, match="image 11 cannot be read"):
        for key, result in run_pipelined(compiled, batches(), 2):
            got.append(key)
            np.testing.assert_array_equal(result, x)
    assert got == list(range(len(got))) and len(got) < 5  # in order, then the error
