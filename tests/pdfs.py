"""Test documents built with PyMuPDF (no binary fixtures in the repository)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

WORDS = ["Revenue", "Forecast", "Summary", "Appendix", "Results", "Methods", "Figures", "Tables"]


def make_pdf(path: Path, pages: int = 2, *, rotate: dict[int, int] | None = None, size=(595, 842),
             encrypt: str | None = None) -> Path:
    """A text PDF: page n carries the word WORDS[n-1] at (72, 100) and a paragraph below it."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        page.insert_text((72, 100), WORDS[i % len(WORDS)], fontsize=24)
        page.insert_text((72, 160), f"Page {i + 1}: the quick brown fox jumps over the lazy dog.", fontsize=11)
        if rotate and (i + 1) in rotate:
            page.set_rotation(rotate[i + 1])
    kwargs = {}
    if encrypt:
        kwargs = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": encrypt, "owner_pw": encrypt + "-owner"}
    doc.save(str(path), **kwargs)
    doc.close()
    return path


def word_rect_displayed(path: Path, page: int, word: str) -> tuple[float, float, float, float]:
    """The word's rectangle in points of the displayed page (rotation applied, top-left origin)."""
    with pymupdf.open(str(path)) as doc:
        p = doc[page - 1]
        r = p.search_for(word)[0] * p.rotation_matrix  # search_for answers in unrotated coordinates
        r.normalize()
        return r.x0, r.y0, r.x1, r.y1
