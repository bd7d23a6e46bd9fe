"""Video import: frames at a rate, near-duplicates pointing at their original, all or nothing."""

import os
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select
from videoclips import pattern, write_clip

from labelwise.errors import DataFileError, InvalidInputError
from labelwise.io import _video
from labelwise.io._video import decode_frames, import_videos, near_duplicates, sharpness
from labelwise.store import Project
from labelwise.store._models import Sample


def stored(p: Project) -> dict[str, Sample]:
    with p.session() as s:
        return {r.uid: r for r in s.scalars(select(Sample).order_by(Sample.id))}


def test_repeated_frames_keep_exactly_the_unique_ones_and_point_at_their_original(tmp_path):
    keys = [0, 0, 1, 1, 2, 0, 3, 3, 4, 5]  # frame 5 repeats frame 0 after other frames
    write_clip(tmp_path / "clip.mp4", keys)
    p = Project.init(tmp_path / "p")
    r = import_videos(p, [tmp_path / "clip.mp4"], fps=None)
    # by hand: each frame repeats the first earlier frame with the same key
    first = {}
    expect_dup = {}
    for i, k in enumerate(keys):
        if k in first:
            expect_dup[i] = first[k]
        else:
            first[k] = i
    rows = stored(p)
    assert (r.n_samples, r.n_duplicates, r.n_videos, r.kind) == (10, 4, 1, "frames")
    assert sorted(rows) == [f"clip/frame_{i:06d}" for i in range(10)]
    for i in range(10):
        row = rows[f"clip/frame_{i:06d}"]
        if i in expect_dup:
            assert row.split == "duplicate"
            assert row.meta["duplicate_of"] == f"clip/frame_{expect_dup[i]:06d}"
        else:
            assert row.split == "pool"
            assert "duplicate_of" not in row.meta
    # the frames are image files under the project, readable, at the video's size
    from PIL import Image

    for row in rows.values():
        path = tmp_path / "p" / "media" / "videos" / "clip" / f"frame_{row.meta['frame']:06d}.jpg"
        assert row.uri == str(path.resolve())
        assert Image.open(path).size == (64, 48)


def test_no_dedupe_keeps_every_frame(tmp_path):
    write_clip(tmp_path / "c.mp4", [0, 0, 0])
    p = Project.init(tmp_path / "p")
    r = import_videos(p, [tmp_path / "c.mp4"], fps=None, max_distance=None)
    assert r.n_duplicates == 0
    assert {row.split for row in stored(p).values()} == {"pool"}


@pytest.mark.parametrize(
    ("fps", "indices"),
    [
        (2, [0, 5, 10, 15]),  # a 10 fps clip: every 5th frame
        (3, [0, 4, 7, 10, 14, 17]),  # the first frame at or after k/3 s: ceil(10 k / 3)
        (None, list(range(20))),
        (25, list(range(20))),  # above the video's rate: every frame
    ],
)
def test_frame_indices_and_timestamps_follow_the_rate(tmp_path, fps, indices):
    write_clip(tmp_path / "c.mp4", list(range(20)), rate=10)
    got = [(i, t) for i, t, _ in decode_frames(tmp_path / "c.mp4", fps=fps)]
    assert [i for i, _ in got] == indices
    assert [t for _, t in got] == pytest.approx([i / 10 for i in indices], abs=1e-9)


def test_frame_meta_holds_video_frame_timestamp_and_sharpness(tmp_path):
    write_clip(tmp_path / "walk.mp4", list(range(10)), rate=10)
    p = Project.init(tmp_path / "p")
    import_videos(p, [tmp_path / "walk.mp4"], fps=5)
    metas = [row.meta for row in stored(p).values()]
    assert [(m["video"], m["frame"], m["timestamp"]) for m in metas] == [
        ("walk", i, i / 10) for i in (0, 2, 4, 6, 8)
    ]
    assert all(m["sharpness"] > 1000 for m in metas)  # black/white blocks: sharp edges


def test_sharpness_is_the_variance_of_the_laplacian():
    from scipy.ndimage import laplace

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8)
    grey = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    peer = laplace(grey)[1:-1, 1:-1].var()  # scipy's 5-point Laplacian, interior pixels
    assert sharpness(img) == pytest.approx(peer, rel=1e-5)
    assert sharpness(np.full((9, 9, 3), 7, dtype=np.uint8)) == 0.0


def test_near_duplicates_point_at_the_nearest_kept_frame():
    h = np.zeros((4, 8), dtype=bool)
    h[1, :6] = True  # far from 0: kept
    h[2, :5] = True  # 1 bit from frame 1, 5 from frame 0
    h[3, 0] = True  # 1 bit from frame 0
    dup, dist = near_duplicates(h, max_distance=2)
    assert dup.tolist() == [-1, -1, 1, 0]
    assert dist.tolist() == [0, 0, 1, 1]
    assert near_duplicates(h, max_distance=-1)[0].tolist() == [-1, -1, -1, -1]


def test_a_folder_of_videos_and_several_files(tmp_path):
    (tmp_path / "videos" / "cam1").mkdir(parents=True)
    write_clip(tmp_path / "videos" / "cam1" / "morning.mp4", [1, 2])
    write_clip(tmp_path / "videos" / "noon.mp4", [3, 4, 5])
    write_clip(tmp_path / "extra.mp4", [6])
    p = Project.init(tmp_path / "p")
    r = import_videos(p, [tmp_path / "videos", tmp_path / "extra.mp4"], fps=None)
    assert r.n_videos == 3
    assert sorted(stored(p)) == [
        "cam1/morning/frame_000000",
        "cam1/morning/frame_000001",
        "extra/frame_000000",
        "noon/frame_000000",
        "noon/frame_000001",
        "noon/frame_000002",
    ]


def test_a_failure_after_the_files_moved_leaves_neither_rows_nor_files(tmp_path, monkeypatch):
    write_clip(tmp_path / "a.mp4", [1, 2])
    write_clip(tmp_path / "b.mp4", [3, 4])
    p = Project.init(tmp_path / "p")
    real = os.replace
    calls = []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first video is in place, the second fails
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(_video.os, "replace", replace_then_fail)
    with pytest.raises(OSError):
        import_videos(p, [tmp_path / "a.mp4", tmp_path / "b.mp4"], fps=None)
    assert stored(p) == {}
    media = tmp_path / "p" / "media"
    assert [x for x in media.rglob("*") if x.is_file()] == []
    monkeypatch.setattr(_video.os, "replace", real)
    assert import_videos(p, [tmp_path / "a.mp4", tmp_path / "b.mp4"], fps=None).n_samples == 4


def test_the_same_video_twice_is_refused_and_nothing_changes(tmp_path):
    write_clip(tmp_path / "a.mp4", [1, 2])
    p = Project.init(tmp_path / "p")
    import_videos(p, [tmp_path / "a.mp4"], fps=None)
    with pytest.raises(DataFileError, match=r"a\.mp4: a video with the id 'a' is already"):
        import_videos(p, [tmp_path / "a.mp4"], fps=None)
    assert len(stored(p)) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"fps": 0}, "--fps must be above 0"), ({"max_distance": 65}, "--hash-distance")],
)
def test_bad_settings_are_named(tmp_path, kwargs, match):
    write_clip(tmp_path / "a.mp4", [1])
    with pytest.raises(InvalidInputError, match=match):
        import_videos(Project.init(tmp_path / "p"), [tmp_path / "a.mp4"], **kwargs)


def test_a_corrupt_video_gives_one_line_and_imports_nothing(tmp_path):
    write_clip(tmp_path / "good.mp4", [1, 2, 3])
    data = (tmp_path / "good.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index is at the end
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all " * 50)
    project = tmp_path / "p"
    Project.init(project)
    for bad in ("junk.mp4", "cut.mp4"):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "labelwise",
                "import",
                str(project),
                str(tmp_path / "good.mp4"),
                str(tmp_path / bad),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert str(tmp_path / bad) in lines[0]
        assert "Traceback" not in r.stderr
    assert stored(Project.open(project)) == {}
    assert not (project / "media" / "videos").exists()


def test_pattern_helper_gives_distinct_and_flat_frames():
    assert not np.array_equal(pattern(1), pattern(2))
    assert sharpness(pattern(1, contrast=0)) == 0.0
