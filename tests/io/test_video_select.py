"""Selection per video (--n-per-video, --proportion), duplicates out of the pool, frame columns,
sharpness as a metadata weight, and neighbouring frames of decoded videos on the labeling page."""

import csv
from collections import Counter

import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from videoclips import pattern, write_clip

from labelwise.annotate._queue import sample_payload
from labelwise.cli import app
from labelwise.embed import compute_features
from labelwise.errors import InvalidInputError
from labelwise.io._video import import_videos
from labelwise.loop._project import select_batch, status
from labelwise.store import Project
from labelwise.store._models import Sample


@pytest.fixture
def two_videos(tmp_path):
    """Video 'long': 12 distinct frames + 2 repeats; video 'short': 5 distinct frames."""
    write_clip(tmp_path / "long.mp4", [*range(12), 0, 5])
    write_clip(tmp_path / "short.mp4", range(20, 25))
    p = Project.init(tmp_path / "p", classes=["car", "no car"])
    import_videos(p, [tmp_path / "long.mp4", tmp_path / "short.mp4"], fps=None)
    compute_features(p, method="pixels")
    return p


def per_video(rows) -> Counter:
    return Counter(r["id"].split("/")[0] for r in rows)


@pytest.mark.parametrize(
    ("kwargs", "expect"),
    [
        ({"n_per_video": 3}, {"long": 3, "short": 3}),
        ({"n_per_video": 8}, {"long": 8, "short": 5}),  # a short video gives all it has
        # by hand, rounded half up: 12 * 0.25 = 3, 5 * 0.25 = 1.25 -> 1
        ({"proportion": 0.25}, {"long": 3, "short": 1}),
        # 12 * 0.5 = 6, 5 * 0.5 = 2.5 -> 3
        ({"proportion": 0.5}, {"long": 6, "short": 3}),
    ],
)
def test_per_video_count_and_proportion_hold_exactly(two_videos, kwargs, expect):
    r = select_batch(two_videos, strategy="k_center_greedy", random_state=0, **kwargs)
    assert per_video(r.rows) == expect
    assert len({row["id"] for row in r.rows}) == len(r.rows)
    assert [row["position"] for row in r.rows] == list(range(len(r.rows)))
    assert all("; video " in row["reason"] for row in r.rows)


def test_near_duplicates_are_never_candidates(two_videos):
    r = select_batch(two_videos, strategy="k_center_greedy", n_per_video=100, random_state=0)
    picked = {row["id"] for row in r.rows}
    assert picked.isdisjoint({"long/frame_000012", "long/frame_000013"})  # the two repeats
    assert len(picked) == 17  # every distinct frame
    st = status(two_videos)
    assert (st["n_duplicates"], st["n_candidates"]) == (2, 0)
    with pytest.raises(InvalidInputError, match="nothing left to select"):
        select_batch(two_videos, strategy="k_center_greedy", batch_size=1, force=True)


def test_per_video_needs_sane_values(two_videos):
    with pytest.raises(InvalidInputError, match="--proportion must be within"):
        select_batch(two_videos, strategy="random", proportion=1.5)
    with pytest.raises(InvalidInputError, match="rounds to 0 in every video"):
        select_batch(two_videos, strategy="random", proportion=0.01)
    with pytest.raises(InvalidInputError, match="--random-share cannot be combined"):
        select_batch(two_videos, strategy="random", n_per_video=2, random_share=0.5)


def test_select_out_carries_video_and_frame_columns(two_videos, tmp_path):
    out = tmp_path / "frames.csv"
    r = CliRunner().invoke(
        app,
        [
            "select",
            str(two_videos.path),
            "--strategy",
            "random",
            "--n-per-video",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for row in rows:
        video, name = row["id"].split("/")
        assert row["video"] == video
        assert int(row["frame"]) == int(name.removeprefix("frame_"))
        assert float(row["timestamp"]) == pytest.approx(int(row["frame"]) / 10)
    bad = CliRunner().invoke(
        app, ["select", str(two_videos.path), "--n-per-video", "2", "--batch", "5"]
    )
    assert bad.exit_code == 2


def test_sharpness_weights_pick_the_sharpest_frame_of_each_video(tmp_path):
    from labelwise.io._labels import import_labels
    from labelwise.loop._project import train

    # per video: frames of falling contrast; the sharpest is not the first
    contrasts = {"a": [60, 250, 120, 30], "b": [40, 90, 200, 10]}
    for name, cs in contrasts.items():
        frames = [pattern(k + 10 * (name == "b"), contrast=c) for k, c in enumerate(cs)]
        write_clip(tmp_path / f"{name}.mp4", None, frames=frames)
    write_clip(tmp_path / "seed.mp4", [90, 91, 92, 93])
    p = Project.init(tmp_path / "p", classes=["car", "no car"])
    import_videos(p, [tmp_path / f"{n}.mp4" for n in ("a", "b", "seed")], fps=None)
    compute_features(p, method="pixels")
    (tmp_path / "l.csv").write_text(
        "id,label\n"
        + "".join(f"seed/frame_{i:06d},{'car' if i % 2 else 'no car'}\n" for i in range(4))
    )
    import_labels(p, tmp_path / "l.csv")
    train(p, model="logreg")
    r = select_batch(
        p, strategy="weighted", strengths={"sharpness": 1.0}, n_per_video=1, random_state=0
    )
    # by hand: the highest-contrast frame of each video
    assert sorted(row["id"] for row in r.rows) == ["a/frame_000001", "b/frame_000002"]
    assert all("sharpness" in row["reason"] for row in r.rows)


def test_a_decoded_frame_shows_its_neighbouring_frames(tmp_path):
    # 10 fps, decoded at 2 per second: frames 0, 5, 10, 15, 20, 25; frame 15 repeats frame 5
    keys = list(range(30))
    keys[15] = keys[5]
    write_clip(tmp_path / "v.mp4", keys)
    p = Project.init(tmp_path / "p")
    import_videos(p, [tmp_path / "v.mp4"], fps=2)
    with p.session() as s:
        sid = {u: i for u, i in s.execute(select(Sample.uid, Sample.id))}
    got = sample_payload(p, sid["v/frame_000010"])["neighbors"]
    # two either side, the duplicate (15) left out, so 20 and 25 follow
    assert [n["frame"] for n in got] == [0, 5, 20, 25]
    assert [n["time_offset"] for n in got] == [-1.0, -0.5, 1.0, 1.5]
    assert sample_payload(p, sid["v/frame_000015"])["neighbors"] == []
