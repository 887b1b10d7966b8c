"""Detections -> a COCO detection file (what pycocotools, FiftyOne, CVAT and Label Studio import).

Layout (https://cocodataset.org/#format-data, "Object Detection"):

- ``images``: ``{"id", "file_name", "width", "height"}``, ids from 1 in input order. ``file_name`` is the
  input path as given; a PDF page is ``"file.pdf#page=3"`` (its size is the page as rendered for the model).
- ``categories``: one per distinct label, ids from 1 in order of first appearance, ``supercategory``
  ``"object"``. An empty label becomes the category ``"unlabelled"``.
- ``annotations``: ``{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd": 0,
  "segmentation": []}`` in original-image pixels (top-left origin, ``w = x2 - x1``).
- Points (``--points``) follow COCO's keypoint layout: ``"keypoints": [x, y, 2]``, ``"num_keypoints": 1``;
  every category carries ``"keypoints": ["point"]`` and ``"skeleton": []`` when the file has points. A point
  without a box gets the zero-size box ``[x, y, 0, 0]`` (area 0), so every annotation has a ``bbox``.
- Extra keys a model wrote (e.g. ``text_content``) are kept under ``"attributes"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vlparse.run.atomic import atomic_write_text
from vlparse.core.results import Detection

UNLABELLED = "unlabelled"


def _xywh(box: Sequence[float]) -> list[float]:
    x1, y1, x2, y2 = box
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def build_coco(items: Iterable[tuple[str, int, int, Sequence[Detection]]]) -> dict[str, Any]:
    """``items``: (file_name, width, height, detections) per image, detections in that image's pixels."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    category_ids: dict[str, int] = {}
    has_points = False
    for image_id, (file_name, width, height, detections) in enumerate(items, start=1):
        images.append({"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)})
        for det in detections:
            if det.bbox is None and det.point is None:
                continue
            name = det.label.strip() or UNLABELLED
            cat = category_ids.setdefault(name, len(category_ids) + 1)
            if det.bbox is not None:
                bbox = _xywh(det.bbox)
            else:
                bbox = [round(det.point[0], 2), round(det.point[1], 2), 0.0, 0.0]
            ann: dict[str, Any] = {"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                   "bbox": bbox, "area": round(bbox[2] * bbox[3], 2), "iscrowd": 0,
                                   "segmentation": []}
            if det.point is not None:
                has_points = True
                ann["keypoints"] = [round(det.point[0], 2), round(det.point[1], 2), 2]
                ann["num_keypoints"] = 1
            if det.extra:
                ann["attributes"] = dict(det.extra)
            annotations.append(ann)
    categories = []
    for name, cid in category_ids.items():
        cat: dict[str, Any] = {"id": cid, "name": name, "supercategory": "object"}
        if has_points:
            cat["keypoints"] = ["point"]
            cat["skeleton"] = []
        categories.append(cat)
    return {"info": {"description": "vlparse ground", "version": "1.0"}, "licenses": [], "images": images,
            "categories": categories, "annotations": annotations}


def write_coco(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
