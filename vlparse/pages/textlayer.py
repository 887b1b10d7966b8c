"""A PDF page's own text layer, as words with boxes in the space of ``bbox_pt``.

The model only sees pixels; a born-digital page also carries its text. This module reads that text
with PyMuPDF as a list of :class:`Word` objects whose ``bbox_pt`` is in **points of the displayed page,
top-left origin** (rotation and cropbox applied): the same space as every block's ``bbox_pt``, so a
word and a block can be compared directly.

PyMuPDF's conventions, checked in its source (``Page.get_textpage`` sets the rotation to 0 while it
extracts) and on rotated, cropped pages in the tests: ``get_text("words")`` answers in the *unrotated*
page with the cropbox's top-left corner as origin; ``Page.rotation_matrix`` maps that to the displayed
page (``Page.rect``).

It also tells what kind of text layer a page has (:class:`TextKind`): real text, none at all (a scan),
or only invisible text (text render mode 3, or fully transparent), which is what OCR tools such as
OCRmyPDF put over a scan: such words come from another OCR engine, not from the document's author,
so they are no independent witness and the page counts as having no text layer.

API (everything else is private)::

    page_words(path, page, password=None) -> list[Word]        # one page of a file (opens it)
    page_text_layer(path, page, password=None) -> TextLayer    # the same plus the kind of layer
    read_text_layer(pymupdf_page) -> TextLayer                 # on a page already open (hold PDF_LOCK)

Only PyMuPDF is imported (lazily), so this is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

#: a page needs at least this many visible characters to count as having a text layer (a lone page number
#: or a stamp on a scan is no text layer)
MIN_TEXT_CHARS = 3


class TextKind(str, Enum):
    TEXT = "text"  # visible text: a born-digital page
    NONE = "none"  # no text at all (a scan, a photo, a vector drawing)
    INVISIBLE = "invisible"  # only invisible text (an OCR layer over a scan)


@dataclass(frozen=True)
class Word:
    """One word of the text layer.

    ``bbox_pt``: ``(x0, y0, x1, y1)`` in points of the displayed page, top-left origin. ``block``, ``line``
    and ``index`` are PyMuPDF's numbering (block of the page, line in the block, word in the line): the
    order of the content stream, which for most born-digital documents is the reading order.
    ``visible`` is False for invisible text (render mode 3 or transparent).
    """

    text: str
    bbox_pt: tuple[float, float, float, float]
    block: int = 0
    line: int = 0
    index: int = 0
    visible: bool = True

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox_pt
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0


@dataclass
class TextLayer:
    """The words of one page, visible ones first in stream order, and the kind of layer it is."""

    kind: TextKind
    words: list[Word] = field(default_factory=list)  # visible words (the witness); empty unless kind is TEXT
    hidden: list[Word] = field(default_factory=list)  # invisible words (an OCR layer), kept for information
    width_pt: float = 0.0
    height_pt: float = 0.0

    @property
    def has_text(self) -> bool:
        return self.kind is TextKind.TEXT

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "words": len(self.words), "hidden_words": len(self.hidden)}


def read_text_layer(page) -> TextLayer:
    """The text layer of an open ``pymupdf.Page`` (the caller holds :data:`vlparse.pages.render.PDF_LOCK`)."""
    import pymupdf

    rect = page.rect  # the displayed page: cropbox, rotation applied
    to_displayed = page.rotation_matrix
    invisible = _invisible_rects(page)
    raw = page.get_text("words", sort=False)
    words: list[Word] = []
    hidden: list[Word] = []
    for x0, y0, x1, y1, text, block, line, index in raw:
        if not text.strip():
            continue
        r = pymupdf.Rect(x0, y0, x1, y1) * to_displayed
        r.normalize()
        cx, cy = (r.x0 + r.x1) / 2.0, (r.y0 + r.y1) / 2.0
        if not (rect.x0 <= cx <= rect.x1 and rect.y0 <= cy <= rect.y1):
            continue  # outside the cropbox: not on the displayed page
        ucx, ucy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        visible = not any(a <= ucx <= c and b <= ucy <= d for a, b, c, d in invisible)
        word = Word(text, (round(r.x0, 2), round(r.y0, 2), round(r.x1, 2), round(r.y1, 2)), block, line, index,
                    visible)
        (words if visible else hidden).append(word)
    chars = sum(len(w.text) for w in words)
    if chars >= MIN_TEXT_CHARS:
        kind = TextKind.TEXT
    elif hidden:
        kind = TextKind.INVISIBLE
    else:
        kind = TextKind.NONE
    if kind is not TextKind.TEXT:
        hidden, words = hidden + words, []
    return TextLayer(kind, words, hidden, rect.width, rect.height)


def _invisible_rects(page) -> list[tuple[float, float, float, float]]:
    """Unrotated rectangles of the page's invisible text spans (render mode 3, or opacity 0)."""
    out = []
    for span in page.get_texttrace():
        if span.get("type") == 3 or span.get("opacity", 1.0) == 0:
            out.append(tuple(span["bbox"]))
    return out


def page_text_layer(path: str, page: int, password: str | None = None) -> TextLayer:
    """The text layer of 1-based ``page`` of the PDF at ``path``.

    Raises :class:`vlparse.core.errors.InputError` for an unreadable file and
    :class:`vlparse.pages.render.PageError` for a page that cannot be read.
    """
    from vlparse.pages.render import PdfSource

    with PdfSource(path, password) as src:
        return src.text_layer(page)


def page_words(path: str, page: int, password: str | None = None) -> list[Word]:
    """The visible words of 1-based ``page`` of the PDF at ``path`` (empty for scans and OCR layers)."""
    return page_text_layer(path, page, password).words
