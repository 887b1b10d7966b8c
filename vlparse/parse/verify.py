"""Verification of a parsed page against the PDF's own text layer (pure: no I/O).

The model only sees pixels; a born-digital PDF page also carries its text, which makes it an independent
witness. For each block with a box and comparable text, the text layer's words whose centre lies in the
block's ``bbox_pt`` grown by :attr:`Thresholds.margin_pt` are taken in the layer's order, and both sides are
normalised (NFKC, words hyphenated across a line break joined, whitespace removed). Then, with ``a`` the
block's characters, ``b`` the words' characters and ``lcs`` the length of their longest common subsequence
(rapidfuzz ``LCSseq``: order-aware)::

    text agreement  = 2 * lcs / (len(a) + len(b))     (rapidfuzz's normalised Indel similarity, fuzz.ratio/100)
    missing chars   = len(b) - lcs                    (in the layer, not in the block)
    extra chars     = len(a) - lcs                    (in the block, not in the layer)
    box IoU         = IoU(block bbox_pt, extent of the matched words)

Block status: ``verified`` when agreement >= ``verified_text``, ``low`` otherwise (the IoU is recorded but
does not decide: models draw a block's box over its column, wider than the glyphs; a drifted box shows as
lost or foreign words, i.e. in the text agreement); ``unverifiable`` when the block has no box, or is a picture/formula (nothing comparable), or the
page has no text layer. Page level::

    coverage       = layer words that lie in some block / all layer words
    hallucination  = sum(extra chars) / sum(block chars), over the compared blocks
    order          = share of pairs of compared blocks (in answer order) whose matched words come in the
                     same order in the layer (median word position); 1.0 with fewer than two

A page below ``min_coverage`` / ``min_order``, above ``max_hallucination``, or with a ``low`` block gets a
warning per finding, ``verify.status`` ``low``, and the page status ``suspect`` when it was ``ok`` (a repaired,
truncated or looping page keeps that more specific status).
"""

from __future__ import annotations

import re
import statistics
from bisect import bisect_left, bisect_right
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rapidfuzz.distance import LCSseq

from vlparse.core.results import OK, SUSPECT, Block, PageResult

VERIFIED = "verified"
LOW = "low"
UNVERIFIABLE = "unverifiable"

#: block types whose content is not text the layer would carry in the same form (pictures, LaTeX, SMILES, ABC)
NOT_COMPARABLE = frozenset({"figure", "chart", "formula", "chemical_formula", "music_sheet"})


@dataclass(frozen=True)
class Thresholds:
    """Every verification threshold, in one place (the README quotes these defaults)."""

    margin_pt: float = 3.0  # a word belongs to a block when its centre lies in the block box grown by this
    verified_text: float = 0.90  # block: text agreement at least this -> verified
    min_coverage: float = 0.85  # page: share of the layer's words inside some block
    max_hallucination: float = 0.05  # page: share of block characters absent from the layer
    min_order: float = 0.90  # page: share of block pairs in the layer's order


DEFAULT = Thresholds()


class WordLike(Protocol):
    text: str
    bbox_pt: Sequence[float]


_HYPHEN_BREAK = re.compile(r"(\w)[-\u00ad\u2010]\s+(?=[a-z\u00e0-\u00ff])")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, soft hyphens dropped, words hyphenated over a line break joined, whitespace collapsed."""
    text = text or ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("\u00ad ", "").replace("\u00ad", "")
    if "-" in text or "\u2010" in text:
        text = _HYPHEN_BREAK.sub(r"\1", text)
    return " ".join(text.split())


def chars(text: str) -> str:
    """What is compared: the normalised text without whitespace."""
    return normalise(text).replace(" ", "")


def agreement(block_text: str, layer_text: str) -> tuple[float, int, int]:
    """(text agreement 0-1, missing chars, extra chars) of a block's text against the layer's text."""
    return _agreement_chars(chars(block_text), chars(layer_text))


def _agreement_chars(a: str, b: str) -> tuple[float, int, int]:
    if not a and not b:
        return 1.0, 0, 0
    lcs = LCSseq.similarity(a, b)
    return 2.0 * lcs / (len(a) + len(b)), len(b) - lcs, len(a) - lcs


def iou(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    if not a or not b:
        return 0.0
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def extent(boxes: Sequence[Sequence[float]]) -> list[float] | None:
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


class Centres:
    """The words' centres, sorted by y once per page so each block looks only at its own band of the page."""

    def __init__(self, words: Sequence[WordLike]):
        pts = [((w.bbox_pt[0] + w.bbox_pt[2]) / 2.0, (w.bbox_pt[1] + w.bbox_pt[3]) / 2.0, i)
               for i, w in enumerate(words)]
        pts.sort(key=lambda p: p[1])
        self.pts = pts
        self.ys = [p[1] for p in pts]

    def inside(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        lo, hi = bisect_left(self.ys, y0), bisect_right(self.ys, y1)
        return sorted(i for cx, _, i in self.pts[lo:hi] if x0 <= cx <= x1)


def words_in(box: Sequence[float], words: Sequence[WordLike], margin: float,
             centres_: Centres | None = None) -> list[int]:
    """Indices of the words whose centre lies in ``box`` grown by ``margin`` (layer order)."""
    cs = Centres(words) if centres_ is None else centres_
    return cs.inside(box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)


def layer_text(words: Sequence[WordLike], indices: Sequence[int]) -> str:
    return " ".join(words[i].text for i in indices)


_HYPHENS = ("-", "\u00ad", "\u2010")


def word_boxes(block_text: str, words: Sequence[WordLike], indices: Sequence[int]) -> list[list[float] | None]:
    """For each word of the block's normalised text (``normalise(text).split()``), the box (``bbox_pt``) of the
    layer word it aligns with, or None.

    Tokens are aligned as sequences with rapidfuzz (``Indel`` opcodes over the two token lists): equal
    tokens, and replaced runs of equal length (a misread word), take the layer word's box; a model word with
    no layer counterpart gets None. A word hyphenated over a line break keeps its first half's box.
    """
    from rapidfuzz.distance import Indel

    model = normalise(block_text).split()
    joined: list[str] = []
    jboxes: list[list[float]] = []
    for i in indices:  # join "exam-" + "ple" on the layer side, as normalise() does on the model side
        tok = words[i].text
        if not tok.isascii():
            tok = unicodedata.normalize("NFKC", tok)
        if joined and joined[-1].endswith(_HYPHENS) and len(joined[-1]) > 1 and joined[-1][-2].isalnum() \
                and tok[:1].islower():
            joined[-1] = joined[-1][:-1] + tok
            continue
        joined.append(tok)
        b = words[i].bbox_pt
        jboxes.append([round(b[0], 2), round(b[1], 2), round(b[2], 2), round(b[3], 2)])
    out: list[list[float] | None] = [None] * len(model)
    for op in Indel.opcodes(model, joined):
        if op.tag == "equal" or (op.tag == "replace" and op.src_end - op.src_start == op.dest_end - op.dest_start):
            for k in range(op.src_end - op.src_start):
                out[op.src_start + k] = jboxes[op.dest_start + k]
    return out


def _has_text(block: Block) -> bool:
    return bool(block.text and block.text.strip())


def verify_block(block: Block, words: Sequence[WordLike], t: Thresholds = DEFAULT,
                 centres_: Centres | None = None) -> tuple[dict, list[int], int]:
    """The ``verify`` record of one block, the indices of the layer words it matched, and its compared characters."""
    if block.type in NOT_COMPARABLE or not _has_text(block):
        return {"status": UNVERIFIABLE, "reason": "no comparable text"}, [], 0
    if not block.bbox_pt:
        return {"status": UNVERIFIABLE, "reason": "no box"}, [], 0
    idx = words_in(block.bbox_pt, words, t.margin_pt, centres_)
    text = layer_text(words, idx)
    own = block.text.replace("|", " ") if block.type == "table" else block.text  # cells joined with " | "
    a = chars(own)
    agree, missing, extra = _agreement_chars(a, chars(text))
    ext = extent([words[i].bbox_pt for i in idx])
    box_iou = iou(block.bbox_pt, ext)
    ok = agree >= t.verified_text
    rec = {"status": VERIFIED if ok else LOW, "text": round(agree, 4), "iou": round(box_iou, 4),
           "missing_chars": missing, "extra_chars": extra, "words": len(idx),
           "words_bbox_pt": [round(v, 2) for v in ext] if ext else None}
    return rec, idx, len(a)


def _to_px(box_pt, frame) -> list[float] | None:
    if not box_pt:
        return None
    sx, sy = frame.pt_per_px_x, frame.pt_per_px_y
    return [round(box_pt[0] / sx, 2), round(box_pt[1] / sy, 2), round(box_pt[2] / sx, 2), round(box_pt[3] / sy, 2)]


def order_agreement(keys: Sequence[float]) -> float:
    """Share of pairs (i < j) with keys[i] <= keys[j]; 1.0 with fewer than two keys."""
    n = len(keys)
    if n < 2:
        return 1.0
    good = sum(1 for i in range(n) for j in range(i + 1, n) if keys[i] <= keys[j])
    return good / (n * (n - 1) / 2)


def verify_page(result: PageResult, words: Sequence[WordLike] | None, *, reason: str | None = None,
                snap_boxes: bool = False, t: Thresholds = DEFAULT) -> dict:
    """Verify ``result`` in place against the layer's visible ``words``; returns the page record.

    ``words`` None (with ``reason``): the page has no usable text layer -> ``unverifiable``, nothing else changes.
    With ``snap_boxes``, verified blocks get ``bbox_pt`` (and ``bbox_px``) tightened to their words' extent;
    the model's boxes stay in ``verify.model_bbox_pt`` / ``model_bbox_px``.
    """
    if words is None or not result.blocks and not words:
        rec = {"status": UNVERIFIABLE, "reason": reason or "no text layer"}
        result.verify = rec
        return rec
    if result.blocks and not any(b.bbox_pt for b in result.blocks):  # boxes are what ties text to the page
        rec = {"status": UNVERIFIABLE, "reason": "no block has a box"}
        result.verify = rec
        return rec
    frame = result.info.frame
    covered: set[int] = set()
    compared = 0
    total_chars = extra_chars = 0
    order_keys: list[float] = []
    ious: list[float] = []
    low: list[int] = []
    cs = Centres(words)
    for n, block in enumerate(result.blocks, 1):
        rec, idx, n_chars = verify_block(block, words, t, cs)
        if rec["status"] == UNVERIFIABLE and block.bbox_pt:  # a formula or chart still covers its words
            covered.update(words_in(block.bbox_pt, words, t.margin_pt, cs))
        if rec["status"] != UNVERIFIABLE:
            compared += 1
            covered.update(idx)
            total_chars += n_chars
            extra_chars += rec["extra_chars"]
            ious.append(rec["iou"])
            if idx:
                order_keys.append(statistics.median(idx))
            if rec["status"] == VERIFIED:
                if snap_boxes and rec["words_bbox_pt"] and frame.pt_per_px_x and frame.pt_per_px_y:
                    rec["model_bbox_pt"], rec["model_bbox_px"] = block.bbox_pt, block.bbox_px
                    block.bbox_pt = list(rec["words_bbox_pt"])
                    block.bbox_px = _to_px(block.bbox_pt, frame)
                    rec["snapped"] = True
            else:
                low.append(n)
        block.verify = rec
    coverage = len(covered) / len(words) if words else 1.0
    halluc = extra_chars / total_chars if total_chars else 0.0
    order = order_agreement(order_keys)
    page = {"status": VERIFIED, "coverage": round(coverage, 4), "hallucination": round(halluc, 4),
            "order": round(order, 4), "box_iou": round(sum(ious) / len(ious), 4) if ious else None,
            "blocks_compared": compared, "blocks_low": len(low),
            "layer_words": len(words)}
    findings = []
    for n in low:
        b = result.blocks[n - 1].verify
        findings.append(f"verify: block {n} ({result.blocks[n - 1].type}) agrees {b['text']:.0%} with the PDF's text "
                        f"layer ({b['missing_chars']} chars missing, {b['extra_chars']} extra)"
                        + (" (text absent from the page: invented?)" if b["text"] < 0.5 else ""))
    if coverage < t.min_coverage:
        findings.append(f"verify: only {coverage:.0%} of the text layer's words are inside a block "
                        f"(threshold {t.min_coverage:.0%}): text was left out")
    if halluc > t.max_hallucination:
        findings.append(f"verify: {halluc:.0%} of the blocks' characters are not in the text layer "
                        f"(threshold {t.max_hallucination:.0%})")
    if order < t.min_order:
        findings.append(f"verify: block order agrees {order:.0%} with the text layer's order "
                        f"(threshold {t.min_order:.0%})")
    if findings:
        page["status"] = LOW
        result.warnings.extend(findings)
        if result.status == OK:  # repaired, truncated, looping pages keep their more specific status
            result.status = SUSPECT
    result.verify = page
    return page
