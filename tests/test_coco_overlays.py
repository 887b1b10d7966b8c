"""COCO export (ids consistent, bbox = x,y,w,h) and overlays (boxes where they belong, inputs untouched)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pdfs import make_pdf
from PIL import Image, ImageDraw

from vlparse.export.coco import build_coco, write_coco
from vlparse.core.geometry import Frame
from vlparse.core.results import Block, Detection, Document, PageInfo, PageResult
from vlparse.export.overlays import BLOCK_COLOURS, colour_for, write_block_overlays, write_detection_overlays
from vlparse.parse.schema import BLOCK_TYPES


def check_coco(data: dict) -> None:
    """What a COCO reader (pycocotools' COCO(), FiftyOne, CVAT) relies on."""
    assert {"images", "annotations", "categories"} <= set(data)
    image_ids = [i["id"] for i in data["images"]]
    cat_ids = [c["id"] for c in data["categories"]]
    ann_ids = [a["id"] for a in data["annotations"]]
    for ids in (image_ids, cat_ids, ann_ids):
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i >= 1 for i in ids)
    assert len({c["name"] for c in data["categories"]}) == len(cat_ids)
    sizes = {i["id"]: (i["width"], i["height"]) for i in data["images"]}
    for a in data["annotations"]:
        assert a["image_id"] in sizes and a["category_id"] in cat_ids
        x, y, w, h = a["bbox"]
        W, H = sizes[a["image_id"]]
        assert w >= 0 and h >= 0 and 0 <= x and x + w <= W + 0.01 and 0 <= y and y + h <= H + 0.01
        assert a["area"] == pytest.approx(w * h, abs=0.01) and a["iscrowd"] == 0


def test_build_coco_ids_categories_and_xywh():
    items = [
        ("a.png", 640, 400, [Detection("car", [10, 20, 110, 70]), Detection("person", [200, 100, 250, 300]),
                             Detection("car", [300, 50, 400, 150])]),
        ("b.pdf#page=2", 1000, 1400, [Detection("person", [5, 5, 15, 45]), Detection("", [0, 0, 10, 10])]),
        ("c.png", 100, 100, []),
    ]
    data = build_coco(items)
    check_coco(data)
    assert [(i["id"], i["file_name"]) for i in data["images"]] == [(1, "a.png"), (2, "b.pdf#page=2"), (3, "c.png")]
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "car"), (2, "person"), (3, "unlabelled")]
    first = data["annotations"][0]
    assert first == {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 50], "area": 5000,
                     "iscrowd": 0, "segmentation": []}
    assert [(a["image_id"], a["category_id"]) for a in data["annotations"]] == [(1, 1), (1, 2), (1, 1), (2, 2), (2, 3)]
    assert "keypoints" not in data["categories"][0]


def test_points_become_keypoints_and_extras_attributes():
    data = build_coco([("a.png", 100, 100, [Detection("tip", point=[12.5, 40]),
                                            Detection("word", [10, 10, 50, 20], extra={"text_content": "Hi"}),
                                            Detection("cup", [60, 60, 80, 90], point=[70, 75])])])
    check_coco(data)
    tip, word, cup = data["annotations"]
    assert tip["bbox"] == [12.5, 40, 0, 0] and tip["area"] == 0
    assert tip["keypoints"] == [12.5, 40, 2] and tip["num_keypoints"] == 1
    assert word["attributes"] == {"text_content": "Hi"} and "keypoints" not in word
    assert cup["bbox"] == [60, 60, 20, 30] and cup["keypoints"] == [70, 75, 2]
    assert all(c["keypoints"] == ["point"] and c["skeleton"] == [] for c in data["categories"])


def test_write_coco_is_atomic_json(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_coco(path, build_coco([("a.png", 10, 10, [Detection("x", [1, 1, 5, 5])])]))
    assert json.loads(path.read_text())["annotations"][0]["bbox"] == [1, 1, 4, 4]
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]  # no temp file left behind


def image_result(path: Path, detections: list[Detection], page: int = 1) -> PageResult:
    with Image.open(path) as im:
        w, h = im.size
    return PageResult(PageInfo(str(path), page, Frame(w, h, w, h)), detections=detections)


def test_detection_overlay_draws_on_a_copy(tmp_path):
    src = tmp_path / "photo.png"
    img = Image.new("RGB", (400, 300), (255, 255, 255))
    ImageDraw.Draw(img).rectangle([100, 80, 220, 200], fill=(0, 160, 0))
    img.save(src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    res = image_result(src, [Detection("green square", [100, 80, 220, 200]), Detection("dot", point=[300, 250])])
    written = write_detection_overlays([res], tmp_path / "ov", {str(src): "photo"})
    assert written == [tmp_path / "ov" / "photo.overlay.png"]
    out = Image.open(written[0]).convert("RGB")
    assert out.size == (400, 300)
    box_colour = out.getpixel((100, 150))  # on the box's left edge
    assert box_colour not in ((255, 255, 255), (0, 160, 0))
    assert out.getpixel((160, 150)) == (0, 160, 0)  # inside the box: the picture, not paint
    assert out.getpixel((300, 250)) != (255, 255, 255)  # the point
    assert out.getpixel((10, 290)) == (255, 255, 255)  # far away: untouched
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_same_label_same_colour_across_images(tmp_path):
    paths = []
    for name in ("a", "b"):
        p = tmp_path / f"{name}.png"
        Image.new("RGB", (200, 200), (255, 255, 255)).save(p)
        paths.append(p)
    results = [image_result(paths[0], [Detection("cat", [10, 10, 100, 100]), Detection("dog", [120, 10, 190, 100])]),
               image_result(paths[1], [Detection("dog", [10, 10, 100, 100])])]
    out = write_detection_overlays(results, tmp_path / "ov", {str(p): p.stem for p in paths})
    a, b = (Image.open(p).convert("RGB") for p in out)
    assert a.getpixel((120, 60)) == b.getpixel((10, 60)) != a.getpixel((10, 60))


def test_pdf_page_overlay_uses_the_page_image(tmp_path):
    pdf = make_pdf(tmp_path / "doc.pdf", pages=2)
    frame = Frame(595, 842, 595, 842, 1.0, 1.0)
    res = PageResult(PageInfo(str(pdf), 2, frame, kind="pdf"), detections=[Detection("word", [60, 70, 200, 110])])
    [path] = write_detection_overlays([res], tmp_path / "ov", {str(pdf): "doc"})
    assert path.name == "doc-p2.overlay.png"
    out = Image.open(path).convert("RGB")
    assert out.size == (595, 842)
    # the page's own text is there (dark pixels inside the box), and the box outline is drawn
    inside = [out.getpixel((x, y)) for x in range(72, 190) for y in range(80, 105)]
    assert any(sum(p) < 200 for p in inside)
    assert out.getpixel((60, 90)) != (255, 255, 255)


def test_failed_and_unreadable_inputs_are_skipped_with_a_warning(tmp_path, capsys):
    gone = PageResult(PageInfo(str(tmp_path / "gone.png"), 1, Frame(10, 10, 10, 10)), detections=[])
    failed = PageResult(PageInfo("x.png", 1, Frame(0, 0, 0, 0)), status="failed", error="boom")
    assert write_detection_overlays([gone, failed], tmp_path / "ov", {}) == []
    assert "gone.png" in capsys.readouterr().err


def test_colour_for_block_types_is_fixed_distinct_and_stable():
    assert set(BLOCK_TYPES) <= set(BLOCK_COLOURS)
    colours = [colour_for(t) for t in BLOCK_TYPES]
    assert len(set(colours)) == len(colours)
    assert colour_for("heading") == (214, 39, 40)
    assert colour_for("brand-new-type") == colour_for("brand-new-type")
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colours)


def test_block_overlay_per_page_with_type_colours_and_legend(tmp_path):
    src = tmp_path / "scan.png"
    Image.new("RGB", (600, 800), (255, 255, 255)).save(src)
    page = PageResult(PageInfo(str(src), 1, Frame(600, 800, 600, 800)), blocks=[
        Block("heading", "Title", bbox_px=[50, 40, 400, 90]),
        Block("table", "", bbox_px=[50, 300, 550, 600]),
        Block("paragraph", "no box"),
    ])
    doc = Document(str(src), "qwen2.5-vl", "m", [page])
    [path] = write_block_overlays(doc, tmp_path / "ov", "scan")
    assert path == tmp_path / "ov" / "scan-p1.overlay.png"
    out = Image.open(path).convert("RGB")
    assert out.size == (600, 800)
    assert out.getpixel((50, 450)) == colour_for("table")  # left edge of the table block, full colour
    fill = out.getpixel((300, 450))  # inside: a light tint of the table colour
    assert fill != (255, 255, 255) and fill[0] > fill[2]
    # the legend sits in the top-right corner and shows the table swatch
    corner = [out.getpixel((x, y)) for x in range(420, 600) for y in range(80)]
    assert colour_for("table") in corner and colour_for("heading") in corner
