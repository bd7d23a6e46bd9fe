"""Import videos: decode frames at a rate, drop near-duplicates, store the frames as images.

Each video is decoded with PyAV (the ``video`` extra). A frame is kept when it is the
first one in a new ``1 / fps`` interval of its timestamp, so ``fps=2`` keeps the
frames at 0, 0.5, 1.0, ... seconds (from the first frame). Every kept frame becomes
an image sample stored under the project (``media/videos/<video id>/frame_<i>.jpg``)
with its metadata:

- ``video``: the video id (the file's stem, or its path without suffix below the
  imported folder); ``frame``: the index of the frame in the decoded video (0 =
  first); ``timestamp``: seconds from the first frame; ``sharpness``: the variance
  of the Laplacian of the grey image (higher = sharper; a metadata criterion for
  ``weighted`` and ``intersection``); ``phash``: the 64-bit perceptual hash (hex).
- Near-duplicates: a frame whose perceptual hash (DCT hash, :func:`imagehash.phash`)
  differs in at most ``max_distance`` of 64 bits from a frame already kept from the
  same video is a near-duplicate. It is stored too, with ``split = "duplicate"``,
  ``duplicate_of`` (the uid of the nearest kept frame, the earliest on a tie) and
  ``hash_distance``; it is never a candidate for selection.

An import is all or nothing: every file is opened and decoded before anything is
stored; the frames are written to a staging folder and moved into place inside the
database transaction. An unreadable or corrupt video stops the import with the file
named, and leaves neither rows nor files behind.

References
----------
Zauner, C. (2010). Implementation and benchmarking of perceptual image hash
functions. Master's thesis, Upper Austria University of Applied Sciences.
Pech-Pacheco, J. L. et al. (2000). Diatom autofocusing in brightfield microscopy:
a comparative study. ICPR (variance of the Laplacian as a focus measure).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from labelwise._validation import check_id
from labelwise.errors import DataFileError, InvalidInputError, MissingRequirementError, shorten
from labelwise.store import Project

__all__ = [
    "VIDEO_SUFFIXES",
    "DEFAULT_FPS",
    "DEFAULT_HASH_DISTANCE",
    "DUPLICATE",
    "is_video",
    "is_video_source",
    "video_files",
    "decode_frames",
    "perceptual_hash",
    "sharpness",
    "near_duplicates",
    "import_videos",
]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
#: Frames kept per second of video when no rate is given.
DEFAULT_FPS = 1.0
#: Frames within this many differing bits (of 64) of a kept frame are near-duplicates.
DEFAULT_HASH_DISTANCE = 4
#: ``Sample.split`` of a near-duplicate frame: stored, never a candidate.
DUPLICATE = "duplicate"
#: Where a project keeps the frames it decoded, below its folder.
MEDIA_DIR = Path("media") / "videos"
INSTALL = "pip install 'labelwise[video]'"


def _av():
    try:
        import av
    except ImportError:
        raise MissingRequirementError(
            f"importing videos needs PyAV and ImageHash: {INSTALL}"
        ) from None
    return av


def is_video(path: str | Path) -> bool:
    """Whether a path is a video file by its suffix (``.mp4``, ``.mov``, ``.mkv``, ...)."""
    p = Path(path)
    return p.suffix.lower() in VIDEO_SUFFIXES and not p.is_dir()


def video_files(source: str | Path) -> list[tuple[Path, str]]:
    """``(file, video id)`` of a video file, or of every video below a folder (sorted).

    The id of a single file is its stem; below a folder, its relative path without
    the suffix (``cam1/morning``).
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and is_video(p))
        if not files:
            raise DataFileError(f"{src}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) found.")
        return [(p, p.relative_to(src).with_suffix("").as_posix()) for p in files]
    if not src.exists():
        raise DataFileError(f"{src} not found.")
    if not is_video(src):
        raise DataFileError(
            f"{src}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}); import tables and "
            "image folders one at a time."
        )
    return [(src, src.stem)]


def _open_video(path: Path):
    """(container, its first video stream), or one line naming the file."""
    av = _av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        raise DataFileError(f"{path}: not a readable video ({why[:200]}).") from None
    if not container.streams.video:
        container.close()
        raise DataFileError(f"{path}: holds no video stream.")
    return container, container.streams.video[0]


def _estimated_frames(path: Path) -> int:
    """Roughly how many frames the file holds (for the progress bar); 0 when unknown."""
    container, stream = _open_video(path)
    with container:
        if stream.frames:
            return int(stream.frames)
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration is not None and stream.time_base is not None and rate:
            return int(float(stream.duration * stream.time_base) * float(rate))
        if container.duration and rate:
            return int(container.duration / 1_000_000 * float(rate))
    return 0


def decode_frames(
    path: str | Path,
    *,
    fps: float | None = DEFAULT_FPS,
    on_decoded: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video; yield ``(frame index, seconds from the first frame, RGB array)``.

    Parameters
    ----------
    path : path
    fps : float or None, default=1.0
        Keep the first frame of every ``1 / fps`` seconds; None keeps every frame.
    on_decoded : callable, optional
        Called with the number of frames decoded since its last call.

    Yields
    ------
    index : int
        Position of the frame among all decoded frames (0 = the first).
    timestamp : float
        Its presentation time minus the first frame's, in seconds.
    image : ndarray of shape (height, width, 3), uint8

    Raises
    ------
    DataFileError
        The file cannot be opened or decoded; the message names it.
    """
    av = _av()
    p = Path(path)
    rate = None if fps is None else Fraction(str(fps))
    if rate is not None and rate <= 0:
        raise InvalidInputError(f"--fps must be above 0, got {fps}.")
    container, stream = _open_video(p)
    stream.thread_type = "AUTO"  # frame and slice threads: several times faster on big frames
    avg = stream.average_rate or stream.guessed_rate or Fraction(25)
    t0: Fraction | None = None
    last_slot = -1
    pending = 0
    try:
        with container:
            for i, frame in enumerate(container.decode(stream)):
                pending += 1
                if on_decoded is not None and pending >= 16:
                    on_decoded(pending)
                    pending = 0
                if frame.pts is not None and frame.time_base is not None:
                    t = Fraction(frame.pts) * frame.time_base
                else:  # no timestamps (raw streams): the frame rate says when
                    t = Fraction(i) / Fraction(avg)
                if t0 is None:
                    t0 = t
                t -= t0
                if rate is not None:
                    slot = int(t * rate)  # exact: Fractions, no 0.49999 s
                    if slot <= last_slot:
                        continue
                    last_slot = slot
                yield i, float(t), frame.to_ndarray(format="rgb24")
    except av.FFmpegError as e:
        why = getattr(e, "strerror", None) or str(e)
        raise DataFileError(f"{p}: corrupt video ({why[:200]}).") from None
    finally:
        if on_decoded is not None and pending:
            on_decoded(pending)
    if t0 is None:
        raise DataFileError(f"{p}: no frame could be decoded.")


def perceptual_hash(image: np.ndarray) -> np.ndarray:
    """The 64-bit DCT perceptual hash of an RGB image, as 64 booleans.

    :func:`imagehash.phash` of the grey image, box-reduced first to a shorter side
    of 64 to 127 pixels (a 640 x 480 frame hashes about 3x faster; the hash is
    taken at 32 x 32 in any case).

    Examples
    --------
    >>> img = np.zeros((48, 64, 3), dtype=np.uint8)
    >>> perceptual_hash(img).shape
    (64,)
    """
    try:
        import imagehash
    except ImportError:
        raise MissingRequirementError(
            f"near-duplicate removal needs ImageHash: {INSTALL}"
        ) from None
    from PIL import Image

    grey = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("L")
    factor = min(grey.size) // 64  # box-reduce big frames first: the hash sees 32 x 32 anyway
    if factor > 1:
        grey = grey.reduce(factor)
    return np.asarray(imagehash.phash(grey).hash, dtype=bool).ravel()


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (0-255 scale): higher = sharper.

    Examples
    --------
    >>> flat = np.full((8, 8, 3), 128, dtype=np.uint8)
    >>> sharpness(flat)
    0.0
    """
    g = np.asarray(image, dtype=np.float32)
    if g.ndim == 3:  # ITU-R 601 luma, as PIL's "L"
        g = g[..., 0] * 0.299 + g[..., 1] * 0.587 + g[..., 2] * 0.114
    if min(g.shape) < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.astype(np.float64).var())


def near_duplicates(hashes: np.ndarray, *, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Which frames repeat an earlier kept frame: ``(duplicate_of, distance)``.

    Frames are taken in order; a frame whose hash differs from the nearest kept frame
    in at most ``max_distance`` bits is a duplicate of it (the earliest on a tie),
    otherwise it is kept.

    Parameters
    ----------
    hashes : array-like of bool, shape (n_frames, n_bits)
    max_distance : int
        Hamming distance up to which two frames count as the same; negative keeps all.

    Returns
    -------
    duplicate_of : ndarray of shape (n_frames,)
        The position of the kept frame each frame repeats, -1 for a kept frame.
    distance : ndarray of shape (n_frames,)
        The Hamming distance to it (0 for kept frames).

    Examples
    --------
    >>> h = [[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]]
    >>> near_duplicates(h, max_distance=1)[0].tolist()
    [-1, 0, -1, 0]
    """
    h = np.asarray(hashes, dtype=bool)
    n = h.shape[0]
    dup = np.full(n, -1, dtype=np.int64)
    dist = np.zeros(n, dtype=np.int64)
    kept = np.empty((n, h.shape[1] if h.ndim == 2 else 0), dtype=bool)
    kept_at = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        if k and max_distance >= 0:
            d = np.count_nonzero(kept[:k] != h[i], axis=1)
            j = int(np.argmin(d))  # the first of the nearest: the earliest kept frame
            if d[j] <= max_distance:
                dup[i], dist[i] = kept_at[j], d[j]
                continue
        kept[k], kept_at[k] = h[i], i
        k += 1
    return dup, dist


def _frame_uid(video: str, index: int) -> str:
    return f"{video}/frame_{index:06d}"


def import_videos(
    project: Project,
    sources: Sequence[str | Path],
    *,
    fps: float | None = DEFAULT_FPS,
    max_distance: int | None = DEFAULT_HASH_DISTANCE,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
):
    """Decode videos into frame samples of the project's pool; all or nothing.

    Parameters
    ----------
    project : Project
    sources : sequence of path
        Video files and folders of videos.
    fps : float or None, default=1.0
        Frames kept per second of video (None: every frame).
    max_distance : int or None, default=4
        Near-duplicate threshold in differing bits of the 64-bit perceptual hash;
        None keeps every frame.
    progress, on_total : callable, optional
        Frames decoded so far / roughly how many frames there are (progress bar).

    Returns
    -------
    ImportResult
        ``kind="frames"``; ``n_samples`` counts every stored frame, ``n_duplicates``
        the near-duplicates among them, ``n_videos`` the videos.
    """
    from labelwise.io._samples import ImportResult, check_unique, store_samples

    if fps is not None and not fps > 0:
        raise InvalidInputError(f"--fps must be above 0, got {fps}.")
    if max_distance is not None and not 0 <= max_distance <= 64:
        raise InvalidInputError(
            f"--hash-distance must be within 0..64 (bits of the perceptual hash), got "
            f"{max_distance}."
        )
    videos: list[tuple[Path, str]] = []
    for source in sources:
        videos += video_files(source)
    names = [check_id(vid, where=str(path), error=DataFileError) for path, vid in videos]
    check_unique(names, lambda i: f"{videos[i][0]}, video id")
    media = project.path / MEDIA_DIR
    for (path, _), vid in zip(videos, names, strict=True):
        if (media / vid).exists():
            raise DataFileError(
                f"{path}: a video with the id {shorten(vid)} is already in the project "
                f"({media / vid}); rename the file to import it as another video. Nothing "
                "was imported."
            )
    total = sum(_estimated_frames(path) for path, _ in videos)  # opens each: unreadable fails here
    if on_total:
        on_total(total)
    staging = project.path / "media" / f".import-{uuid.uuid4().hex}"
    moved: list[Path] = []
    try:
        recs: list[dict] = []
        n_dup = 0
        for (path, _), vid in zip(videos, names, strict=True):
            got = _decode_one(path, vid, staging / vid, media / vid, fps, max_distance, progress)
            n_dup += sum(r["split"] == DUPLICATE for r in got)
            recs += got

        def place() -> None:  # inside the transaction: the rows and the files go in together
            for vid in names:
                final = media / vid
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / vid, final)
                moved.append(final)

        where = _frame_locator(recs)
        n_labels = store_samples(
            project, Path(str(sources[0])), "images", recs, where, before_commit=place
        )
    except BaseException:
        for final in moved:  # the transaction did not commit: take the files out again
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportResult(
        len(recs),
        n_labels,
        False,
        [r["uid"] for r in recs[:3]],
        "frames",
        n_videos=len(videos),
        n_duplicates=n_dup,
    )


def _frame_locator(recs: list[dict]) -> Callable[[int], str]:
    return lambda i: f"{recs[i]['meta']['source']}, frame {recs[i]['meta']['frame']}"


def _decode_one(
    path: Path,
    vid: str,
    folder: Path,
    final: Path,
    fps: float | None,
    max_distance: int | None,
    progress: Callable[[int], None] | None,
) -> list[dict]:
    """Decode one video into ``folder``; its records (uris point into ``final``)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=False)
    recs, hashes = [], []
    final_abs = final.resolve()
    for index, t, rgb in decode_frames(path, fps=fps, on_decoded=progress):
        name = f"frame_{index:06d}.jpg"
        Image.fromarray(rgb).save(folder / name, quality=95)
        h = perceptual_hash(rgb)
        hashes.append(h)
        recs.append(
            {
                "uid": _frame_uid(vid, index),
                "uri": str(final_abs / name),
                "meta": {
                    "video": vid,
                    "frame": index,
                    "timestamp": round(t, 6),
                    "sharpness": round(sharpness(rgb), 4),
                    "phash": np.packbits(h).tobytes().hex(),
                    "source": str(path.resolve()),
                },
                "label": None,
            }
        )
    dup, dist = near_duplicates(
        np.asarray(hashes), max_distance=-1 if max_distance is None else max_distance
    )
    for r, j, d in zip(recs, dup.tolist(), dist.tolist(), strict=True):
        r["split"] = "pool"
        if j >= 0:
            r["split"] = DUPLICATE
            r["meta"]["duplicate_of"] = recs[j]["uid"]
            r["meta"]["hash_distance"] = d
    return recs


def is_video_source(path: str | Path) -> bool:
    """A video file, or a folder that holds videos and no images."""
    from labelwise.io._samples import IMAGE_SUFFIXES

    p = Path(path)
    if not p.is_dir():
        return is_video(p)
    has_video = False
    for f in p.rglob("*"):
        suffix = f.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return False
        has_video = has_video or suffix in VIDEO_SUFFIXES
    return has_video
