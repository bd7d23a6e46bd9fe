"""Small annotation datasets written by the tests (PNG images made with Pillow)."""

from pathlib import Path

from PIL import Image

#: A YOLO dataset: image -> (size, label lines or None for "no label file").
YOLO_IMAGES = {
    "train/a.png": ((64, 48), ["0 0.5 0.5 0.25 0.5", "1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4"]),
    "train/b.png": ((40, 30), ["1 0.25 0.5 0.5 0.2"]),
    "val/c.png": ((50, 50), ["0 0.2 0.2 0.8 0.3 0.7 0.9 0.3 0.8 0.1 0.5"]),
    "val/d.png": ((20, 10), None),  # not labeled
    "val/e.png": ((30, 20), []),  # labeled: no object
}
NAMES = {0: "cat", 1: "dog"}


def write_png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (size[0] % 255, 40, 90)).save(path)
    return path


def write_yolo(root: Path, images=None, names=None) -> Path:
    """Write a YOLO dataset (``images/``, ``labels/``, ``data.yaml``) and return its root."""
    images = YOLO_IMAGES if images is None else images
    names = NAMES if names is None else names
    for rel, (size, lines) in images.items():
        write_png(root / "images" / rel, size)
        if lines is not None:
            txt = (root / "labels" / rel).with_suffix(".txt")
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text("".join(line + "\n" for line in lines))
    splits = [k for k in ("train", "val") if (root / "images" / k).is_dir()]
    yaml = "".join(f"{k}: images/{k}\n" for k in splits) + "names:\n"
    yaml += "".join(f"  {k}: {v}\n" for k, v in names.items())
    (root / "data.yaml").write_text(yaml)
    return root


def read_yolo_txts(root: Path, names: dict[int, str]) -> dict[str, list[tuple[str, list]]]:
    """{image id: [(class name, [numbers]), ...]} of every label file under root/labels."""
    out = {}
    for txt in sorted((root / "labels").rglob("*.txt")):
        rel = txt.relative_to(root / "labels").with_suffix(".png").as_posix()
        rows = []
        for line in txt.read_text().splitlines():
            cells = line.split()
            rows.append((names[int(cells[0])], [float(c) for c in cells[1:]]))
        out[rel] = rows
    return out
