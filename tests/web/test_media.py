"""Images and video frames in the labeling API: media URLs, thumbnails, neighbouring frames."""

import io

import numpy as np
from PIL import Image
from webutil import login

from labelwise.annotate import add_user
from labelwise.embed import compute_features
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch
from labelwise.store import Project


def _frames(folder, video, n):
    d = folder / video
    d.mkdir(parents=True)
    rng = np.random.default_rng(len(video))
    for i in range(n):
        img = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(d / f"frame_{i:05d}.png")


def test_a_video_frame_comes_with_its_neighbours(tmp_path):
    from labelwise.web import create_app

    _frames(tmp_path / "frames", "clip_a", 8)
    _frames(tmp_path / "frames", "clip_b", 8)
    p = Project.init(tmp_path / "p", classes=["car", "no car"])
    import_pool(p, tmp_path / "frames")
    compute_features(p, method="pixels")  # not about embedding: no backbone
    select_batch(p, strategy="random", batch_size=16, random_state=0)
    add_user(p, "ann", "ann-pass-1", "annotator")
    app = create_app(p)
    c = login(app, "ann", "ann-pass-1")
    seen = 0
    while True:
        item = c.get("/api/next").json()
        if item["assignment"] is None:
            break
        smp = item["sample"]
        video, frame = smp["meta"]["video"], smp["meta"]["frame"]
        assert smp["uid"] == f"{video}/frame_{frame:05d}.png"
        # neighbours: frames within 2 of this one, same clip only, this frame left out
        expect = [f for f in range(frame - 2, frame + 3) if 0 <= f < 8 and f != frame]
        assert [n["frame"] for n in smp["neighbors"]] == expect
        assert all(n["uid"].startswith(video + "/") for n in smp["neighbors"])
        # the image and its neighbours can be fetched by this annotator
        r = c.get(smp["media_url"])
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (16, 12)
        for n in smp["neighbors"]:
            assert c.get(n["media_url"] + "?thumb=1").status_code == 200
        c.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "car"})
        seen += 1
    assert seen == 16
