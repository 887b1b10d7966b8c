"""Text lines of blocks and the small text/box helpers every page-layout export shares (hOCR, ALTO, PDF).

Lines are the answer's own: boxed inline spans (``attrs.lines``) or boxed list items
(``attrs.items``); otherwise a block is one line over its own box. Nothing here estimates a position.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePath

from vlparse.core.results import Block

#: blocks whose content is a picture: no text line unless the answer gave text for them
PICTURE_TYPES = frozenset({"figure", "chart"})

# XML 1.0 forbids most C0 controls (and lone surrogates); model text can contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str | None) -> str:
    """``text`` with the characters XML 1.0 cannot carry removed (lxml refuses them)."""
    return _NOT_XML.sub("", text or "")


def one_line(text: str | None) -> str:
    """All whitespace (line breaks included) collapsed to single spaces."""
    return " ".join(xml_text(text).split())


def int_box(box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A pixel box as whole pixels that still contain it (floor/ceil), clipped to the page."""
    if not box or len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        return None
    x0, y0, x1, y1 = box
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    x1, y1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def answer_lines(block: Block) -> list[tuple[str, list[float]]] | None:
    """The block's lines with their pixel boxes when the answer gave a box for each, else None.

    Read from ``attrs.lines`` (boxed inline spans), or a list's ``attrs.items`` (boxed ``<li>``).
    """
    for key in ("lines", "items"):
        parts = block.attrs.get(key) or []
        if parts and all(isinstance(p, dict) and p.get("bbox_px") for p in parts):
            return [(one_line(p.get("text")), p["bbox_px"]) for p in parts if one_line(p.get("text"))]
    return None


def block_lines(block: Block) -> list[tuple[str, list[float] | None]]:
    """The block's text lines with their pixel boxes, as the answer gave them.

    :func:`answer_lines` when there are any; otherwise the whole text as one line over the block's
    own box. Nothing here estimates a position.
    """
    lines = answer_lines(block)
    if lines is not None:
        return list(lines)
    text = one_line(block.text)
    return [(text, block.bbox_px)] if text else []


def layer_word_lines(block: Block, frame, words) -> list[tuple[list[float], list[tuple[str, list[float]]]]] | None:
    """The block's words with their boxes from the PDF's text layer, grouped into lines, or None.

    Only for a block verified against the text layer (``verify.status == "verified"``) when ``words`` (the page's
    layer words, :func:`vlparse.pages.textlayer.document_words`) are given, and only when every word of the
    model's text aligns with a layer word (:func:`vlparse.parse.verify.word_boxes`, over the words verification
    matched): the text is the model's, each box is the layer word's, mapped to page pixels with ``frame``.
    Words go on one line while their vertical centres fall within the previous word's height.
    Returns ``[(line box px, [(word, word box px), ...]), ...]``.
    """
    from vlparse.parse.verify import DEFAULT, normalise, word_boxes, words_in

    v = block.verify or {}
    if not words or v.get("status") != "verified" or not frame or not frame.pt_per_px_x or not frame.pt_per_px_y:
        return None
    box = v.get("model_bbox_pt") or block.bbox_pt  # the box verification matched the words with
    if not box:
        return None
    tokens = normalise(block.text).split()
    boxes = word_boxes(block.text, words, words_in(box, words, DEFAULT.margin_pt))
    if not boxes or len(boxes) != len(tokens) or not all(boxes):
        return None
    sx, sy = frame.pt_per_px_x, frame.pt_per_px_y
    lines: list[list[tuple[str, list[float]]]] = []
    for token, b in zip(tokens, boxes):
        text, box = xml_text(token), [b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy]
        if not text:
            continue
        if lines:
            prev = lines[-1][-1][1]
            if prev[1] <= (box[1] + box[3]) / 2.0 <= prev[3]:
                lines[-1].append((text, box))
                continue
        lines.append([(text, box)])
    return [([min(b[0] for _, b in ln), min(b[1] for _, b in ln), max(b[2] for _, b in ln),
              max(b[3] for _, b in ln)], ln) for ln in lines] or None


def source_name(path: str) -> str:
    """The input path as a POSIX path (what the hOCR ``image`` property and ALTO ``fileName`` want)."""
    return PurePath(path).as_posix()


# ----------------------------------------------------------------------------- hOCR
