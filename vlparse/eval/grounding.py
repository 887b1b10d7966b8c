"""Grounding accuracy: AP/AR of ``vlparse ground`` results against COCO ground truth, with pycocotools' own
``COCOeval`` (bbox; AP over IoU 0.50:0.95, AP50, AP75, AR at 1/10/100 detections).

Predictions may be a COCO result list (``[{"image_id", "category_id", "bbox", "score"}]``), a ``vlparse ground
--coco`` file, or ``vlparse ground --jsonl`` output. The last two are matched to the ground truth by image file
name (``name.pdf#page=N`` for PDF pages; the name without directories) and category name. Qwen VL models give
no confidence, so every vlparse detection has score 1.0 (AP then measures a single operating point).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path, PurePath

from vlparse.core.errors import InputError, UsageError

STATS = ("AP", "AP50", "AP75", "APsmall", "APmedium", "APlarge", "AR1", "AR10", "AR100", "ARsmall", "ARmedium",
         "ARlarge")


def _key(name: str) -> str:
    base, _, page = str(name).partition("#")
    return PurePath(base).name + (f"#{page}" if page else "")


def _read(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise InputError(f"{path}: neither JSON nor JSON lines ({e})") from None


def predictions(data, gt: dict) -> list[dict]:
    """COCO result entries (image and category ids of ``gt``) from any of the accepted shapes."""
    images = {_key(im["file_name"]): im["id"] for im in gt.get("images", [])}
    cats = {c["name"]: c["id"] for c in gt.get("categories", [])}
    out: list[dict] = []

    def add(file_name, label, box_xywh):
        img, cat = images.get(_key(file_name)), cats.get(label)
        if img is not None and cat is not None and box_xywh is not None:
            out.append({"image_id": img, "category_id": cat, "bbox": [float(v) for v in box_xywh], "score": 1.0})

    if isinstance(data, dict) and "detections" in data:  # one line of --jsonl
        data = [data]
    if isinstance(data, list) and data and isinstance(data[0], dict) and "image_id" in data[0]:
        return [{**d, "score": float(d.get("score", 1.0))} for d in data]
    if isinstance(data, dict) and "annotations" in data:  # a vlparse --coco file
        pimg = {im["id"]: im["file_name"] for im in data.get("images", [])}
        pcat = {c["id"]: c["name"] for c in data.get("categories", [])}
        for a in data["annotations"]:
            add(pimg.get(a["image_id"], ""), pcat.get(a["category_id"]), a.get("bbox"))
        return out
    if isinstance(data, list):  # vlparse ground --jsonl
        for line in data:
            name = line.get("image", "") + (f"#page={line['page']}" if line.get("page") else "")
            for d in line.get("detections", []):
                b = d.get("bbox")
                add(name, d.get("label"), [b[0], b[1], b[2] - b[0], b[3] - b[1]] if b else None)
        return out
    raise InputError("unknown prediction format (want a COCO result list, a vlparse --coco file or --jsonl lines)")


def score_grounding(gt_path: str, pred_path: str) -> dict:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UsageError("--coco-gt needs pycocotools: pip install 'vlparse[eval]'") from None
    gt_data = _read(Path(gt_path))
    if not isinstance(gt_data, dict) or "annotations" not in gt_data:
        raise InputError(f"{gt_path}: not a COCO ground-truth file (images, categories, annotations)")
    gt_data.setdefault("info", {})
    gt_data.setdefault("licenses", [])
    for a in gt_data["annotations"]:
        a.setdefault("area", a["bbox"][2] * a["bbox"][3])
        a.setdefault("iscrowd", 0)
    preds = predictions(_read(Path(pred_path)), gt_data)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress on stdout
        coco = COCO()
        coco.dataset = gt_data
        coco.createIndex()
        if not preds:
            stats = [0.0] * len(STATS)
        else:
            res = coco.loadRes(preds)
            ev = COCOeval(coco, res, "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats = [float(s) for s in ev.stats]
    overall = {k: round(v, 4) for k, v in zip(STATS, stats)}
    return {"overall": overall | {"detections": len(preds), "ground_truth": len(gt_data["annotations"])}}
