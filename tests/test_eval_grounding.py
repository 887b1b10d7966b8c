"""vlparse eval --coco-gt: AP/AR of grounding results with pycocotools, amounts computed by hand."""

import json

import pytest

pytest.importorskip("pycocotools", reason="pycocotools not installed (pip install 'vlparse[eval]')")

GT = {"images": [{"id": 1, "file_name": "a.png", "width": 400, "height": 400},
                 {"id": 2, "file_name": "b.png", "width": 400, "height": 400}],
      "categories": [{"id": 1, "name": "car"}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]},
                      {"id": 2, "image_id": 1, "category_id": 1, "bbox": [200, 200, 100, 100]},
                      {"id": 3, "image_id": 2, "category_id": 1, "bbox": [50, 50, 100, 100]}]}


def _jsonl(dets: dict[str, list[list[float]]]) -> str:
    return "".join(json.dumps({"image": f"/data/{name}", "detections": [{"label": "car", "bbox": b} for b in boxes]})
                   + "\n" for name, boxes in dets.items())


def _eval(cli, tmp_path, preds: str):
    (tmp_path / "gt.json").write_text(json.dumps(GT))
    (tmp_path / "pred.jsonl").write_text(preds)
    res = cli("eval", tmp_path, "--coco-gt", tmp_path / "gt.json", "--from-run", tmp_path / "pred.jsonl", "--json")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)["overall"]


def test_exact_boxes_score_one(tmp_path, cli):
    o = _eval(cli, tmp_path, _jsonl({"a.png": [[0, 0, 100, 100], [200, 200, 300, 300]], "b.png": [[50, 50, 150, 150]]}))
    assert (o["AP"], o["AP50"], o["AR100"]) == (1.0, 1.0, 1.0)


def test_a_missed_box_costs_a_third_of_recall(tmp_path, cli):
    o = _eval(cli, tmp_path, _jsonl({"a.png": [[0, 0, 100, 100]], "b.png": [[50, 50, 150, 150]]}))
    # recall 2/3 at every IoU threshold with precision 1: AR = 2/3; AP = 67 of COCO's 101 recall points / 101
    assert o["AR100"] == pytest.approx(2 / 3, abs=1e-4) and o["AP"] == pytest.approx(67 / 101, abs=1e-4)


def test_a_shifted_box_counts_only_below_its_iou(tmp_path, cli):
    gt_one = {**GT, "images": GT["images"][:1], "annotations": GT["annotations"][:1]}
    (tmp_path / "gt.json").write_text(json.dumps(gt_one))
    (tmp_path / "pred.jsonl").write_text(_jsonl({"a.png": [[20, 0, 120, 100]]}))  # IoU 8000/12000 = 2/3
    res = cli("eval", tmp_path, "--coco-gt", tmp_path / "gt.json", "--from-run", tmp_path / "pred.jsonl", "--json")
    o = json.loads(res.stdout)["overall"]
    # a hit at IoU thresholds 0.50, 0.55, 0.60, 0.65 (4 of 10): AP 0.4, AP50 1, AP75 0
    assert (o["AP"], o["AP50"], o["AP75"]) == (0.4, 1.0, 0.0)


def test_min_score_gates_on_ap(tmp_path, cli):
    (tmp_path / "gt.json").write_text(json.dumps(GT))
    (tmp_path / "pred.jsonl").write_text(_jsonl({"a.png": [[0, 0, 100, 100]]}))
    res = cli("eval", tmp_path, "--coco-gt", tmp_path / "gt.json", "--from-run", tmp_path / "pred.jsonl", "--json",
              "--min-score", "0.5")
    assert res.exit_code == 1 and "below --min-score" in res.stderr
    assert json.loads(res.stdout)["overall"]["AR100"] == pytest.approx(1 / 3, abs=1e-4)
