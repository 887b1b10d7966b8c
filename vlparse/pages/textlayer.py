"""A PDF page's own text layer, as words with boxes in the space of ``bbox_pt``.

The model only sees pixels; a born-digital page also carries its text. This module reads that text
with PyMuPDF as a list of :class:`Word` objects whose ``bbox_pt`` is in **points of the displayed page,
top-left origin** (rotation and cropbox applied): the same space as every block's ``bbox_pt``, so a
word and a block can be compared directly.

PyMuPDF's conventions, checked in its source (``Page.get_textpage`` sets the rotation to 0 while it
extracts; ``Page.get_pixmap`` renders through ``Page.get_displaylist``) and on rotated, cropped pages in the
tests: a page's text page answers in the *unrotated* page with the cropbox's top-left corner as origin, and
``Page.rotation_matrix`` maps that to the displayed page (``Page.rect``); a display list made from the page
is already in the displayed page's coordinates. During ``doc`` the text is read from the display list the
page was just rendered from, so the page's content is interpreted once.

It also tells what kind of text layer a page has (:class:`TextKind`): real text, none at all (a scan),
or only invisible text (text render mode 3, or fully transparent), which is what OCR tools such as
OCRmyPDF put over a scan: such words come from another OCR engine, not from the document's author,
so they are no independent witness and the page counts as having no text layer.

API (everything else is private)::

    page_words(path, page, password=None) -> list[Word]        # one page of a file (opens it)
    page_text_layer(path, page, password=None) -> TextLayer    # the same plus the kind of layer
    document_words(path, pages, password=None) -> {page: [Word]}  # several pages, opened once
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


@dataclass(slots=True)
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
    """The text layer of an open ``pymupdf.Page`` (the caller holds :data:`vlparse.pages.render.PDF_LOCK`).

    ``Page.get_textpage`` answers in the unrotated page (cropbox origin); ``Page.rotation_matrix`` maps
    that to the displayed page.
    """
    tp = page.get_textpage(flags=0)
    matrix = tuple(page.rotation_matrix) if page.rotation % 360 else None
    return _layer(tp, page.rect, matrix)


def text_layer_from_displaylist(dlist, rect) -> TextLayer:
    """The text layer of a page from the display list it was rendered from (same lock rule).

    A display list made from a page is already in the displayed page's coordinates (rotation and cropbox
    applied), so its words need no transform.
    """
    import pymupdf

    return _layer(pymupdf.TextPage(dlist.get_textpage(flags=0)), rect, None)


def _layer(tp, rect, matrix) -> TextLayer:
    raw = tp.extractWORDS()
    invisible = _invisible_rects(tp) if raw else []
    words: list[Word] = []
    hidden: list[Word] = []
    rx0, ry0, rx1, ry1 = rect.x0, rect.y0, rect.x1, rect.y1
    for x0, y0, x1, y1, text, block, line, index in raw:
        ucx, ucy = (x0 + x1) / 2.0, (y0 + y1) / 2.0  # the text page's own space (that of ``invisible``)
        if matrix is not None:  # corners through the rotation (a multiple of 90 degrees: they stay corners)
            a, b, c, d, e, f = matrix
            xa, ya = a * x0 + c * y0 + e, b * x0 + d * y0 + f
            xb, yb = a * x1 + c * y1 + e, b * x1 + d * y1 + f
            x0, x1 = (xa, xb) if xa <= xb else (xb, xa)
            y0, y1 = (ya, yb) if ya <= yb else (yb, ya)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        if not (rx0 <= cx <= rx1 and ry0 <= cy <= ry1):
            continue  # outside the cropbox: not on the displayed page
        visible = not invisible or not any(p <= ucx <= r and q <= ucy <= s for p, q, r, s in invisible)
        word = Word(text, (x0, y0, x1, y1), block, line, index, visible)
        (words if visible else hidden).append(word)
    n_chars = sum(len(w.text) for w in words)
    if n_chars >= MIN_TEXT_CHARS:
        kind = TextKind.TEXT
    elif hidden:
        kind = TextKind.INVISIBLE
    else:
        kind = TextKind.NONE
    if kind is not TextKind.TEXT:
        hidden, words = hidden + words, []
    return TextLayer(kind, words, hidden, rect.width, rect.height)


def _invisible_rects(tp) -> list[tuple[float, float, float, float]]:
    """Rectangles (the text page's space) of its lines of invisible text.

    MuPDF records each character's colour with its alpha: text drawn with render mode 3 (invisible) or fully
    transparent has alpha 0 (PyMuPDF's ``get_text("dict")`` shows it as a span's ``alpha``). The first
    character of each line is checked (OCR layers are written line by line).
    """
    out = []
    for block in tp.this:
        if block.m_internal.type != 0:  # FZ_STEXT_BLOCK_TEXT
            continue
        for line in block:
            ch = line.m_internal.first_char
            if ch is not None and (ch.argb >> 24) & 0xFF == 0:
                b = line.m_internal.bbox
                out.append((b.x0, b.y0, b.x1, b.y1))
    return out


def page_text_layer(path: str, page: int, password: str | None = None) -> TextLayer:
    """The text layer of 1-based ``page`` of the PDF at ``path``.

    Raises :class:`vlparse.core.errors.InputError` for an unreadable file and
    :class:`vlparse.pages.render.PageError` for a page that cannot be read.
    """
    from vlparse.pages.render import PdfSource

    with PdfSource(path, password) as src:
        return src.text_layer(page)


def document_words(path: str, pages: list[int], password: str | None = None) -> dict[int, list[Word]]:
    """Page number -> visible words, for ``pages`` of the PDF at ``path`` (opened once). Pages that cannot be
    read, and an input that cannot be opened (or is no PDF), give no entry: callers treat that as no layer."""
    from vlparse.core.errors import VlparseError
    from vlparse.pages.render import PdfSource, sniff_kind

    out: dict[int, list[Word]] = {}
    if sniff_kind(path) != "pdf":
        return out
    try:
        with PdfSource(path, password) as src:
            for n in pages:
                try:
                    out[n] = src.text_layer(n).words
                except VlparseError:
                    continue
    except VlparseError:
        pass
    return out


def page_words(path: str, page: int, password: str | None = None) -> list[Word]:
    """The visible words of 1-based ``page`` of the PDF at ``path`` (empty for scans and OCR layers)."""
    return page_text_layer(path, page, password).words
