"""vlparse results as supervision.Detections, checked with the real supervision package."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import readme_examples

sv = pytest.importorskip("supervision", reason="the supervision extra is not installed (pip install '.[supervision]')")
np = pytest.importorskip("numpy")

from vlparse.core.geometry import Frame  # noqa: E402
from vlparse.core.results import Detection, Document, PageInfo, PageResult  # noqa: E402
from vlparse.integrations.supervision import Rows, to_supervision  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "examples" / "shapes.png"
Q3 = ROOT / "examples" / "answers" / "qwen3-vl" / "shapes-ground.txt"


@pytest.fixture
def ground_record(cli, tmp_path):
    out = tmp_path / "g.jsonl"
    r = cli("ground", SHAPES, "red car", "--family", "qwen3-vl", "--from-output", Q3, "-o", out)
    assert r.exit_code == 0, r.stderr
    return json.loads(out.read_text().splitlines()[0])


def test_a_grounding_record_becomes_detections_with_its_boxes_and_names(ground_record):
    det = to_supervision(ground_record, classes=["blue circle", "red car"])
    assert len(det) == 1
    np.testing.assert_allclose(det.xyxy[0], ground_record["detections"][0]["bbox"])
    assert det.class_id.tolist() == [1]  # numbered by the classes given, in their order
    assert det.data["class_name"].tolist() == ["red car"] and det.data["label"].tolist() == ["red car"]
    assert det.metadata["width"] == ground_record["width"] and det.metadata["source"] == str(SHAPES)


def test_an_annotator_draws_where_the_box_is(ground_record):
    det = to_supervision(ground_record)
    image = np.full((ground_record["height"], ground_record["width"], 3), 255, dtype=np.uint8)
    out = sv.BoxAnnotator(thickness=2).annotate(image.copy(), det)
    x1, y1, x2, y2 = (int(round(v)) for v in det.xyxy[0])
    changed = np.argwhere((out != image).any(axis=2))
    assert len(changed)
    ys, xs = changed[:, 0], changed[:, 1]
    assert abs(xs.min() - x1) <= 2 and abs(xs.max() - x2) <= 2 and abs(ys.min() - y1) <= 2 and abs(ys.max() - y2) <= 2


def test_a_metric_scores_vlparse_detections_against_ground_truth(ground_record):
    from supervision.metrics import MeanAveragePrecision

    pred = to_supervision(ground_record, classes=["red car"])
    pred.confidence = np.ones(len(pred))
    truth = sv.Detections(xyxy=pred.xyxy.copy(), class_id=np.array([0]))
    assert MeanAveragePrecision().update(pred, truth).compute().map50 == pytest.approx(1.0)
    moved = sv.Detections(xyxy=pred.xyxy + [200, 200, 200, 200], class_id=np.array([0]))
    assert MeanAveragePrecision().update(pred, moved).compute().map50 == pytest.approx(0.0)


def _page(dets, **info) -> PageResult:
    return PageResult(PageInfo("img.png", 1, Frame(640, 480, 644, 476), **info), detections=dets)


def test_points_and_boxes_keep_their_points_in_data():
    page = _page([Detection("dot", point=[10.0, 20.0]), Detection("car", bbox=[1.0, 2.0, 30.0, 40.0]),
                  Detection("word", bbox=[5.0, 5.0, 9.0, 9.0], extra={"text_content": "Hi"})])
    det = to_supervision(page)
    assert det.xyxy.tolist() == [[10, 20, 10, 20], [1, 2, 30, 40], [5, 5, 9, 9]]
    assert det.data["has_box"].tolist() == [False, True, True]
    assert det.data["point"][0].tolist() == [10, 20] and all(math.isnan(v) for v in det.data["point"][1])
    assert det.data["text"].tolist() == ["", "", "Hi"]
    assert det.class_id.tolist() == [0, 1, 2]  # no classes given: order of first appearance
    assert det[det.data["has_box"]].data["class_name"].tolist() == ["car", "word"]  # rows filter together


def test_a_document_page_gives_one_row_per_boxed_block(cli, tmp_path):
    r = cli("doc", ROOT / "examples" / "sample.pdf", "--family", "qwen2.5-vl", "--from-output",
            ROOT / "examples" / "answers" / "qwen2.5-vl" / "sample-pdf", "--json", "-o", tmp_path)
    assert r.exit_code == 0, r.stderr
    doc = Document.from_dict(json.loads((tmp_path / "sample.json").read_text()))
    page = doc.pages[0]
    boxed = [b for b in page.blocks if b.bbox_px]
    det = to_supervision(page)
    assert len(det) == len(boxed) > 3
    assert det.data["class_name"].tolist() == [b.type for b in boxed]
    np.testing.assert_allclose(det.xyxy, [b.bbox_px for b in boxed])
    np.testing.assert_allclose(det.data["bbox_pt"], [b.bbox_pt for b in boxed])
    from vlparse.parse.schema import BLOCK_TYPES
    assert [BLOCK_TYPES[i] for i in det.class_id] == [b.type for b in boxed]
    # a page with detections can still be asked for its blocks, and an empty page gives no rows
    assert len(to_supervision(page, rows=Rows.DETECTIONS)) == 0


def test_the_readme_example_runs(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    [code] = readme_examples.blocks("supervision", "python")
    p = readme_examples.python(code, tmp_path)
    assert p.returncode == 0, p.stderr
    from PIL import Image
    w, h = Image.open(SHAPES).size
    assert p.stdout.strip() == f"red car [110.1, 164.8, 339.8, 324.8] ({h}, {w}, 3)"


def test_a_grounding_result_of_one_image_converts_and_of_several_asks_for_one():
    from types import SimpleNamespace

    page = _page([Detection("car", bbox=[1.0, 2.0, 30.0, 40.0])])
    assert to_supervision(SimpleNamespace(images=[page])).xyxy.tolist() == [[1, 2, 30, 40]]
    with pytest.raises(ValueError, match="2 images"):
        to_supervision(SimpleNamespace(images=[page, page]))
