"""Tiny test clips written with PyAV: each frame a random 8 x 6 block pattern, chosen by a key.

Two keys give patterns ~30 of 64 perceptual-hash bits apart; one key repeated gives the
same pattern, a few bits apart at most after mpeg4 compression.
"""

import numpy as np


def pattern(key: int, width: int = 64, height: int = 48, contrast: int = 255) -> np.ndarray:
    """An RGB frame of random black/white blocks (``contrast`` 0 gives flat grey)."""
    rng = np.random.default_rng(1000 + key)
    blocks = rng.integers(0, 2, size=(6, 8)).astype(np.int64)
    grey = 128 + (blocks * 2 - 1) * (contrast // 2)
    img = np.kron(grey, np.ones((height // 6, width // 8), dtype=np.int64)).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


def write_clip(path, keys, *, rate: int = 10, width: int = 64, height: int = 48, frames=None):
    """An mpeg4 .mp4 with one frame per key (or the given RGB ``frames``), ``rate`` per second."""
    import av

    images = frames if frames is not None else [pattern(k, width, height) for k in keys]
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=rate)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"qscale": "2"}  # near-lossless: repeats stay repeats
        for img in images:
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path
