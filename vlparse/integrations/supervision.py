"""vlparse results as ``supervision.Detections`` (the ``supervision`` extra).

So supervision's annotators, trackers and metrics work on vlparse's output::

    detections = to_supervision(vlparse.ground("photo.jpg", "red car"))  # a GroundResult of one image, or a page
    sv.BoxAnnotator().annotate(image, detections)

What goes where (all coordinates in the original image's pixels, like ``bbox`` / ``bbox_px``):

- a grounding result (a page with ``detections``): one row per detection. ``xyxy`` is its box; a
  detection with only a point (``--points``) gets the zero-size box ``[x, y, x, y]``.
  ``class_id`` numbers the labels: the ``classes`` you pass (e.g. the queries) first, in their order,
  then any other label in order of first appearance. ``data``: ``class_name`` and ``label`` (the
  label as the model wrote it), ``point`` (``(N, 2)``, NaN where the model gave no point),
  ``has_box`` (False where ``xyxy`` is only a point), and ``text`` (``text_content`` of text spotting,
  else ``""``).
- a document page (a page with ``blocks``): one row per block that has a box (blocks without
  ``bbox_px`` cannot be drawn and are left out). ``class_name`` is the block type, ``class_id`` its
  index in ``vlparse.parse.schema.BLOCK_TYPES`` (stable across pages and runs), ``data["text"]`` the
  block's text, ``data["block_index"]`` its index in ``page.blocks``.
- both: ``data["bbox_pt"]`` (``(N, 4)``, PDF points, NaN for images) and ``metadata`` with the
  ``source``, ``page``, ``width``, ``height`` and ``status`` of the page.

Accepts a :class:`vlparse.core.results.PageResult`, a grounding result of one image (anything with an
``images`` list of one page), or a dict as vlparse writes it: a ``vlparse ground`` JSON line, or a page of
``vlparse doc --json``.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING, Any, Sequence

from vlparse.core.errors import ModelError
from vlparse.core.results import Block, Detection, PageResult

if TYPE_CHECKING:  # pragma: no cover
    import supervision as sv

__all__ = ["Rows", "to_supervision"]


class Rows(str, Enum):
    """Which of a page's results become rows."""

    AUTO = "auto"  # detections when the page has any, else blocks
    DETECTIONS = "detections"
    BLOCKS = "blocks"


def _sv():
    try:
        import numpy as np
        import supervision as sv
    except ImportError as e:  # pragma: no cover - exercised only where the extra is missing
        raise ModelError(f"the supervision integration needs the 'supervision' package "
                               f"(pip install 'vlparse[supervision]'): {e}") from None
    return sv, np


def to_supervision(result: PageResult | dict[str, Any], *, classes: Sequence[str] | None = None,
                   rows: Rows = Rows.AUTO) -> sv.Detections:
    """``supervision.Detections`` for one page or image (see the module docstring for the layout)."""
    sv, np = _sv()
    page = _page(result)
    rows = Rows(rows)
    if rows is Rows.AUTO:
        rows = Rows.DETECTIONS if page["detections"] or not page["blocks"] else Rows.BLOCKS
    if rows is Rows.DETECTIONS:
        xyxy, class_id, data = _detection_rows(page["detections"], classes, np)
    else:
        xyxy, class_id, data = _block_rows(page["blocks"], np)
    meta = {k: page[k] for k in ("source", "page", "width", "height", "status")}
    return sv.Detections(xyxy=xyxy, class_id=class_id, data=data, metadata=meta)


def _page(result: PageResult | dict[str, Any]) -> dict[str, Any]:
    images = getattr(result, "images", None)  # a grounding result over images (the API's GroundResult)
    if isinstance(images, list):
        if len(images) != 1:
            raise ValueError(f"this grounding result has {len(images)} images: convert one at a time "
                             "(to_supervision(result.images[i]))")
        result = images[0]
    if isinstance(result, PageResult):
        return {"source": result.info.source, "page": result.info.page, "width": result.info.width_px,
                "height": result.info.height_px, "status": result.status, "detections": result.detections,
                "blocks": result.blocks}
    if not isinstance(result, dict):
        raise TypeError(f"to_supervision takes a PageResult or a vlparse JSON dict, not {type(result).__name__}")
    return {"source": result.get("image", result.get("source")), "page": result.get("page", 1),
            "width": result.get("width", result.get("width_px")),
            "height": result.get("height", result.get("height_px")), "status": result.get("status"),
            "detections": [Detection.from_dict(d) for d in result.get("detections") or []],
            "blocks": [Block.from_dict(b) for b in result.get("blocks") or []]}


def _four(values, np) -> Any:
    return np.asarray(values if values is not None else [math.nan] * 4, dtype=float)


def _detection_rows(dets: list[Detection], classes: Sequence[str] | None, np):
    ids: dict[str, int] = {c: i for i, c in enumerate(classes or [])}
    boxes, points, has_box, texts, names, bbox_pt = [], [], [], [], [], []
    for d in dets:
        if d.bbox is None and d.point is None:
            continue
        x, y = d.point if d.point is not None else (math.nan, math.nan)
        boxes.append(list(d.bbox) if d.bbox is not None else [x, y, x, y])
        has_box.append(d.bbox is not None)
        points.append([x, y])
        names.append(d.label)
        ids.setdefault(d.label, len(ids))
        texts.append(str(d.extra.get("text_content", "")) if d.extra else "")
        bbox_pt.append(d.bbox_pt if d.bbox_pt is not None else None)
    n = len(boxes)
    data = {
        "class_name": np.array(names, dtype=str) if n else np.empty((0,), dtype=str),
        "label": np.array(names, dtype=str) if n else np.empty((0,), dtype=str),
        "point": np.asarray(points, dtype=float).reshape(n, 2),
        "has_box": np.asarray(has_box, dtype=bool),
        "text": np.array(texts, dtype=str) if n else np.empty((0,), dtype=str),
        "bbox_pt": np.stack([_four(b, np) for b in bbox_pt]) if n else np.empty((0, 4)),
    }
    class_id = np.asarray([ids[name] for name in names], dtype=int)
    return np.asarray(boxes, dtype=float).reshape(n, 4), class_id, data


def _block_rows(blocks: list[Block], np):
    from vlparse.parse.schema import BLOCK_TYPES

    rows = [(i, b) for i, b in enumerate(blocks) if b.bbox_px is not None]
    n = len(rows)
    type_ids = {t: i for i, t in enumerate(BLOCK_TYPES)}
    names = [b.type for _, b in rows]
    data = {
        "class_name": np.array(names, dtype=str) if n else np.empty((0,), dtype=str),
        "text": np.array([b.text for _, b in rows], dtype=str) if n else np.empty((0,), dtype=str),
        "block_index": np.asarray([i for i, _ in rows], dtype=int),
        "bbox_pt": np.stack([_four(b.bbox_pt, np) for _, b in rows]) if n else np.empty((0, 4)),
    }
    class_id = np.asarray([type_ids.get(t, len(type_ids)) for t in names], dtype=int)
    xyxy = np.asarray([b.bbox_px for _, b in rows], dtype=float).reshape(n, 4)
    return xyxy, class_id, data
