"""Page metrics of a parse against ground-truth units (pure: no I/O).

A ground-truth unit is a piece of text with a box in ``bbox_pt`` space, in reading order: a line of the PDF's
text layer (self-benchmark) or a block of a hand-written reference answer. Each unit is assigned to the
answer block whose ``bbox_pt`` (grown by ``MARGIN_PT``) contains the unit's centre (the smallest such block).
Blocks of types with no comparable text (figures, charts, formulas: :data:`vlparse.parse.verify.NOT_COMPARABLE`)
are left out together with the units they hold (counted in ``units_skipped``). Characters are compared as in
verification (:func:`vlparse.parse.verify.chars`: NFKC, de-hyphenated, no whitespace). Then::

    text  = 2 * sum(LCS(block, its units)) / (sum |block chars| + sum |unit chars|)
            (every answer block and every unit counts: a dropped block or an invented one lowers it;
             rapidfuzz LCSseq; a block's units are concatenated in reading order)
    box   = mean over blocks holding at least one unit of IoU(block box, extent of its units)
    order = share of consecutive unit pairs (k, k+1), both assigned, whose blocks come in answer order
            (same block counts as in order); with no such pair 1.0 for a page of fewer than two units, else 0

A perfect parse scores 1 on all three. ``score`` is their mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

from vlparse.parse.verify import NOT_COMPARABLE, chars, iou

MARGIN_PT = 3.0


@dataclass(frozen=True)
class Unit:
    text: str
    bbox_pt: tuple[float, float, float, float]


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _block_text(block) -> str:
    return block.text.replace("|", " ") if block.type == "table" else block.text


def assign(units: Sequence[Unit], blocks, margin: float = MARGIN_PT) -> list[int | None]:
    """For each unit, the index of the smallest answer block containing its centre (or None)."""
    out: list[int | None] = []
    for u in units:
        cx, cy = (u.bbox_pt[0] + u.bbox_pt[2]) / 2.0, (u.bbox_pt[1] + u.bbox_pt[3]) / 2.0
        best, best_area = None, float("inf")
        for i, b in enumerate(blocks):
            box = b.bbox_pt
            if box and box[0] - margin <= cx <= box[2] + margin and box[1] - margin <= cy <= box[3] + margin:
                if _area(box) < best_area:
                    best, best_area = i, _area(box)
        out.append(best)
    return out


def page_metrics(units: Sequence[Unit], blocks) -> dict:
    """``text``, ``box``, ``order`` and ``score`` of one page's answer ``blocks`` against ``units``."""
    where = assign(units, blocks)
    skip_blocks = {i for i, b in enumerate(blocks) if b.type in NOT_COMPARABLE}
    kept = [k for k, w in enumerate(where) if w not in skip_blocks]
    per_block: dict[int, list[int]] = {}
    for k in kept:
        if where[k] is not None:
            per_block.setdefault(where[k], []).append(k)
    lcs = a_total = g_total = 0
    for i, b in enumerate(blocks):
        if i in skip_blocks:
            continue
        a = chars(_block_text(b))
        g = "".join(chars(units[k].text) for k in per_block.get(i, []))
        a_total += len(a)
        lcs += LCSseq.similarity(a, g) if a and g else 0
    g_total = sum(len(chars(units[k].text)) for k in kept)
    text = 2.0 * lcs / (a_total + g_total) if (a_total + g_total) else 1.0
    ious = []
    for i, ks in per_block.items():
        ext = [min(units[k].bbox_pt[0] for k in ks), min(units[k].bbox_pt[1] for k in ks),
               max(units[k].bbox_pt[2] for k in ks), max(units[k].bbox_pt[3] for k in ks)]
        ious.append(iou(blocks[i].bbox_pt, ext))
    box = sum(ious) / len(ious) if ious else (1.0 if not kept else 0.0)
    pairs = good = 0
    for k1, k2 in zip(kept, kept[1:]):
        if where[k1] is None or where[k2] is None or k2 != k1 + 1:
            continue
        pairs += 1
        good += where[k1] <= where[k2]
    order = good / pairs if pairs else (1.0 if len(kept) < 2 else 0.0)  # nothing found in sequence: no order
    return {"text": round(text, 4), "box": round(box, 4), "order": round(order, 4),
            "score": round((text + box + order) / 3.0, 4), "units": len(units),
            "units_found": sum(1 for k in kept if where[k] is not None), "units_skipped": len(units) - len(kept),
            "blocks": len(blocks)}


METRICS = ("text", "box", "order", "score")


def mean_metrics(rows: Sequence[dict]) -> dict:
    """The mean of each metric over pages (every page weighs the same)."""
    if not rows:
        return {m: None for m in METRICS} | {"pages": 0}
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRICS} | {"pages": len(rows)}
