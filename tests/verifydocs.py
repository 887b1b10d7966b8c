"""A small real PDF with known lines, and answers to it (correct and with planted defects), for the verification
and eval tests. Answers are written in Qwen3-VL's 0-1000 relative coordinates from the lines' own word boxes."""

from __future__ import annotations

from pathlib import Path

import pymupdf

SIZE = (400.0, 600.0)
LINES = [  # (text, y baseline, font size); one paragraph per line
    ("Alpha bravo charlie delta", 100, 14),
    ("Echo foxtrot golf hotel", 200, 14),
    ("India juliet kilo lima", 300, 14),
]
PAD = 2.0  # points the answer boxes reach beyond the words' extent


def make_lines_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=SIZE[0], height=SIZE[1])
    for text, y, size in LINES:
        page.insert_text((60, y), text, fontsize=size)
    doc.save(str(path))
    doc.close()
    return path


def line_extents(path: Path) -> list[list[float]]:
    """Each line's word extent in bbox_pt space (read back from the text layer)."""
    from vlparse.pages.textlayer import page_words

    words = page_words(str(path), 1)
    out = []
    for text, _, _ in LINES:
        mine = [w for w in words if w.text in text.split()]
        out.append([min(w.bbox_pt[0] for w in mine), min(w.bbox_pt[1] for w in mine),
                    max(w.bbox_pt[2] for w in mine), max(w.bbox_pt[3] for w in mine)])
    return out


def rel(box_pt) -> str:
    """bbox_pt -> Qwen3-VL data-bbox (0-1000 relative)."""
    w, h = SIZE
    return " ".join(str(round(v)) for v in (box_pt[0] / w * 1000, box_pt[1] / h * 1000, box_pt[2] / w * 1000,
                                            box_pt[3] / h * 1000))


def padded(box, pad=PAD, dx=0.0):
    return [box[0] - pad + dx, box[1] - pad, box[2] + pad + dx, box[3] + pad]


def answer(path: Path, *, order=(0, 1, 2), shift: dict[int, float] | None = None,
           invented: tuple[str, list[float]] | None = None, repeat: int | None = None) -> str:
    """QwenVL HTML for the lines in ``order`` (a dropped line is left out of it); ``shift``: line -> dx points;
    ``invented``: (text, bbox_pt) of a paragraph the page does not have; ``repeat``: the line the model loops on
    (repeated until the end, the lines after it never come)."""
    ext = line_extents(path)
    parts = []
    for i in order:
        parts.append(f'<p data-bbox="{rel(padded(ext[i], dx=(shift or {}).get(i, 0.0)))}">{LINES[i][0]}</p>')
        if repeat == i:
            parts.extend([parts[-1]] * 30)
            break
    if invented:
        parts.append(f'<p data-bbox="{rel(invented[1])}">{invented[0]}</p>')
    return "<html><body>\n" + "\n".join(parts) + "\n</body></html>"
