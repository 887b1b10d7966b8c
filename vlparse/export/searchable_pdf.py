"""Searchable PDF: the input with an invisible text layer where the parsed text is on the page.

How the layer is built (PyMuPDF only):

1. The base is a copy of the input PDF (opened read-only, never written back), or, for image
   inputs, a new PDF with one page per image (frame) at the image's own size (its DPI when it
   declares a plausible one, else 72: one pixel per point), in the same pixels as ``bbox_px``.
2. Each parsed page gets a text page in a separate PDF, as large as its unrotated CropBox. Every
   line is written in text render mode 3 (invisible) with the font size that makes its glyph
   boxes exactly as tall as the line box and a horizontal scale that makes it exactly as wide, so
   search hits and selections cover the text they stand for. Rotated pages: positions are taken
   in the displayed page (``bbox_px`` space, top-left origin) and turned into PDF page space with
   the page's derotation matrix; the text is rotated with the page so it reads left to right on
   screen.
3. The text PDF's fonts are subset (only this layer's fonts: the input's own fonts are never
   touched), then each text page is laid over its page as a Form XObject (``show_pdf_page``). The
   base's content is only wrapped in ``q``/``Q``: the page renders exactly as before.

Lines: the answer's own line boxes (``attrs.lines``, or a list's boxed ``items``) where it gave
them; otherwise the block's text is laid onto the text lines the page itself shows inside the
block's box (rows with ink, :class:`Ink`), broken in proportion to their lengths; where the page
shows no clear lines, onto equal bands (its explicit lines, or as many as a font filling the box
would need). Every line is then narrowed to the ink it covers. Word positions inside a line are
therefore estimates (the layer's font is not the page's); search hits always land inside the
block, and selections follow the printed lines.

Pages that already have text (born-digital, or OCRed before) keep it and get no second layer
(duplicated search hits and copied lines otherwise); ``skip_text_pages=False`` adds one anyway.
An encrypted input (opened with its password) gives an encrypted copy: see :func:`_encryption`.

Font: MuPDF's built-in Droid Sans Fallback (Latin, Greek, Cyrillic, CJK, kana, Hangul), embedded
as a subset. A line with characters it lacks (Arabic, Hebrew, Indic, Thai, ...) goes through
PyMuPDF's TextWriter, which picks MuPDF's fallback fonts per character.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vlparse.run.atomic import atomic_write_bytes
from vlparse.core.errors import InputError, UsageError
from vlparse.core.results import Block, Document, PageResult
from vlparse.export.lines import PICTURE_TYPES, answer_lines, one_line

FONT_NAME = "VlpText"  # resource name of the layer's font
BUILTIN_FONT = "cjk"  # MuPDF's Droid Sans Fallback
LINE_PITCH = 1.2  # line spacing / font size assumed when spreading running text over a box
_PLAUSIBLE_DPI = (50.0, 2400.0)


@dataclass(frozen=True)
class TextLine:
    """One line of the layer: text and its rectangle in points of the displayed page (top-left origin)."""

    text: str
    rect: tuple[float, float, float, float]


# ----------------------------------------------------------------------------- lines


@lru_cache(maxsize=1)
def _font():
    import pymupdf

    return pymupdf.Font(BUILTIN_FONT)


@lru_cache(maxsize=4096)
def _covered(ch: str) -> bool:
    return ch.isspace() or bool(_font().has_glyph(ord(ch)))


@lru_cache(maxsize=8192)
def _advance(ch: str) -> float:
    return _font().glyph_advance(ord(ch))


def _width(text: str) -> float:
    """Width of ``text`` at font size 1 in the layer's font (``Font.text_length``, memoised per character)."""
    return sum(_advance(c) for c in text)


def _wrap(text: str, weights: list[float]) -> list[str]:
    """``text`` broken into ``len(weights)`` lines whose widths follow ``weights`` (at spaces; long
    words at characters). Fewer lines come back when the text runs out first."""
    n = len(weights)
    if n <= 1:
        return [text]
    total = _width(text)
    ends = [total * sum(weights[: i + 1]) / sum(weights) for i in range(n - 1)]  # where each line should end
    tokens: list[str] = []
    for word in re.findall(r"\S+\s*", text):
        if _width(word) > total / n:  # e.g. CJK running text without spaces
            tokens.extend(word)
        else:
            tokens.append(word)
    lines, current, done = [], "", 0.0
    for tok in tokens:
        end = ends[len(lines)] if len(lines) < n - 1 else math.inf
        if current and done + _width(tok.rstrip()) / 2 > end:  # the token's middle is past this line's end
            lines.append(current.rstrip())
            current = ""
        current += tok
        done += _width(tok)
    if current.strip():
        lines.append(current.rstrip())
    return lines


class Ink:
    """Where the page has ink: its displayed image thresholded, to fit the text layer to real lines.

    The model's boxes are often looser than the text, and a block's lines are not given; the
    page itself shows where its text lines are (rows with ink) and how far each runs.
    """

    DPI = 100
    LEVEL = 150  # grey values below this are ink

    def __init__(self, page):
        import pymupdf
        from PIL import Image

        pix = page.get_pixmap(dpi=self.DPI, colorspace=pymupdf.csGRAY, alpha=False)
        self.zoom = pix.width / page.rect.width
        grey = Image.frombytes("L", (pix.width, pix.height), pix.samples)
        self.mask = grey.point(lambda v: 255 if v < self.LEVEL else 0)

    @classmethod
    def from_mask(cls, grey, zoom: float) -> Ink:
        """From a greyscale PIL image of the page; ``zoom``: its pixels per unit of the rectangles asked about."""
        self = cls.__new__(cls)
        self.zoom = zoom
        self.mask = grey.point(lambda v: 255 if v < cls.LEVEL else 0)
        return self

    def _crop(self, rect):
        z = self.zoom
        box = (math.floor(rect[0] * z), math.floor(rect[1] * z), math.ceil(rect[2] * z), math.ceil(rect[3] * z))
        return self.mask.crop(box), box

    def bbox(self, rect) -> tuple[float, float, float, float] | None:
        """The ink inside ``rect`` (points), as a rectangle in points, or None."""
        crop, (bx, by, _, _) = self._crop(rect)
        found = crop.getbbox()
        if not found:
            return None
        z = self.zoom
        return ((bx + found[0]) / z, (by + found[1]) / z, (bx + found[2]) / z, (by + found[3]) / z)

    def lines(self, rect) -> list[tuple[float, float, float, float]]:
        """The text lines inside ``rect``: runs of rows with ink (a row profile), each with its ink extent."""
        from PIL import Image

        crop, (bx, by, _, _) = self._crop(rect)
        if crop.width < 1 or crop.height < 1:
            return []
        profile = crop.resize((1, crop.height), Image.Resampling.BOX).tobytes()  # mean ink per row
        bands, start = [], None
        for y, v in enumerate([*profile, 0]):
            if v and start is None:
                start = y
            elif not v and start is not None:
                if y - start >= 3:  # specks are no line
                    bands.append((start, y))
                start = None
        out = []
        for y0, y1 in bands:
            found = crop.crop((0, y0, crop.width, y1)).getbbox()
            if found:
                z = self.zoom
                out.append(((bx + found[0]) / z, (by + y0) / z, (bx + found[2]) / z, (by + y1) / z))
        return out


def _fit(line: TextLine, ink: Ink | None) -> TextLine:
    """``line`` narrowed to the ink it covers (left to right; its height stays the model's)."""
    if ink is None:
        return line
    found = ink.bbox(line.rect)
    x0, y0, x1, y1 = line.rect
    if not found or (found[2] - found[0]) < 0.1 * (x1 - x0):
        return line
    return TextLine(line.text, (found[0], y0, found[2], y1))


def spread(text: str, rect: tuple[float, float, float, float], ink: Ink | None = None) -> list[TextLine]:
    """A block's text without line boxes laid out over its rectangle, one band per line.

    With the page's ``ink``: a single run of text goes onto the text lines the page shows inside
    the box (broken in proportion to their lengths), explicit lines onto them when the counts
    agree. Otherwise the box is cut into equal bands: one per explicit line, or, for a single
    run, as many as a font filling the box at ``LINE_PITCH`` would need (``n * pitch = height``,
    ``n * width = text length``); each band is then narrowed to its ink.
    """
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    rows = [r for r in (one_line(r) for r in text.split("\n")) if r]
    if not rows or w <= 0 or h <= 0:
        return []
    seen = ink.lines(rect) if ink is not None else []
    if seen and len(rows) == 1 and len(seen) <= len(rows[0]):
        parts = _wrap(rows[0], [b[2] - b[0] for b in seen])
        return [TextLine(t, b) for t, b in zip(parts, seen, strict=False)]  # text may end early
    if seen and len(seen) == len(rows):
        return [TextLine(t, b) for t, b in zip(rows, seen, strict=True)]
    if len(rows) == 1:
        n = max(1, round(math.sqrt(h * _width(rows[0]) / (LINE_PITCH * w))))
        rows = _wrap(rows[0], [1.0] * min(n, len(rows[0])))
    band = h / len(rows)
    return [_fit(TextLine(r, (x0, y0 + i * band, x1, y0 + (i + 1) * band)), ink) for i, r in enumerate(rows)]


def page_lines(page: PageResult, width_pt: float, height_pt: float, ink: Ink | None = None) -> list[TextLine]:
    """Every text line of a parsed page, in points of the displayed page (``width_pt`` x ``height_pt``).

    ``ink`` (the page's :class:`Ink`) fits the lines to the text the page shows; without it the
    lines fill the boxes the model gave.
    """
    info = page.info
    if not info.width_px or not info.height_px:
        return []
    sx, sy = width_pt / info.width_px, height_pt / info.height_px

    def pt(box) -> tuple[float, float, float, float] | None:
        if not box or len(box) != 4:
            return None
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1 = sorted((max(0.0, x0 * sx), min(width_pt, x1 * sx)))
        y0, y1 = sorted((max(0.0, y0 * sy), min(height_pt, y1 * sy)))
        return (x0, y0, x1, y1) if x1 - x0 > 0.5 and y1 - y0 > 0.5 else None

    out: list[TextLine] = []
    for block in page.blocks:
        out.extend(_block_lines(block, pt, ink))
    return out


def _block_lines(block: Block, pt, ink: Ink | None) -> list[TextLine]:
    given = answer_lines(block)
    if given is not None:  # the model's own line boxes: only narrowed to their ink
        return [_fit(TextLine(text, r), ink) for text, box in given if (r := pt(box)) is not None]
    rect = pt(block.bbox_px)
    if rect is None or not block.text.strip():
        return []
    # a picture's text (a chart's data, a figure's caption) is not drawn in lines: its ink is graphics
    return spread(block.text, rect, None if block.type in PICTURE_TYPES else ink)


# ----------------------------------------------------------------------------- writing


def _rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def _write_line(shape, tpage, base, line: TextLine) -> None:
    """Write one invisible line filling ``line.rect`` on ``tpage`` (the size of ``base``'s unrotated CropBox)."""
    import pymupdf

    x0, y0, x1, y1 = line.rect
    font = _font()
    size = (y1 - y0) / (font.ascender - font.descender)  # glyph boxes exactly as tall as the line
    derot = base.derotation_matrix
    rotation = base.rotation % 360
    start = pymupdf.Point(x0, y1 + font.descender * size) * derot  # baseline start, unrotated page space
    if all(_covered(c) for c in line.text):
        natural = _width(line.text) * size
        if natural <= 0:
            return
        s = (x1 - x0) / natural
        stretch = pymupdf.Matrix(s, 1) if rotation in (0, 180) else pymupdf.Matrix(1, s)
        shape.insert_text(start, line.text, fontname=FONT_NAME, fontsize=size, render_mode=3, rotate=rotation,
                          morph=(start, stretch))
        return
    # characters the built-in font lacks: TextWriter falls back to MuPDF's Noto fonts per character
    # (other metrics), so its text box is mapped onto the line's displayed rectangle, then carried
    # into the page's unrotated space; ``matrix`` is applied in PDF space (y up), hence ``flip``
    writer = pymupdf.TextWriter(tpage.rect)
    box, _ = writer.append((0, size), line.text, font=font, fontsize=size, right_to_left=_rtl(line.text))
    if box.is_empty:
        return
    fit = pymupdf.Matrix(1, 0, 0, 1, -box.x0, -box.y0) * pymupdf.Matrix((x1 - x0) / box.width, (y1 - y0) / box.height) \
        * pymupdf.Matrix(1, 0, 0, 1, x0, y0) * derot
    flip = pymupdf.Matrix(1, 0, 0, -1, 0, tpage.rect.height)
    writer.write_text(tpage, render_mode=3, matrix=flip * fit * flip)


def _text_page(layer, base, lines: list[TextLine]):
    """A page of ``layer`` as large as ``base``'s unrotated CropBox, carrying ``lines`` as invisible text.

    Plain geometry on purpose (origin 0, no CropBox, no rotation): PyMuPDF's helpers are exact on
    such pages, and :func:`_overlay` puts the page where ``base``'s CropBox is.
    """
    size = base.cropbox
    page = layer.new_page(width=size.width, height=size.height)
    page.insert_font(fontname=FONT_NAME, fontbuffer=_font().buffer)
    shape = page.new_shape()
    for line in lines:
        _write_line(shape, page, base, line)
    shape.commit()
    return page


def _overlay(base, layer, idx: int) -> None:
    """Lay text page ``idx`` of ``layer`` over ``base`` exactly on its CropBox (a Form XObject)."""
    import pymupdf

    mb, cb = base.mediabox, base.cropbox  # MediaBox in PDF space; CropBox top-left, MediaBox-relative
    crop_pdf = pymupdf.Rect(cb.x0, mb.y1 - cb.y1, cb.x1, mb.y1 - cb.y0)  # the CropBox in PDF space
    # show_pdf_page maps ``rect`` back through the page's transformation matrix; hand it the rect
    # that lands on the CropBox (the matrix is off for cropped rotated pages, this way it cancels out)
    base.show_pdf_page(crop_pdf * base.transformation_matrix, layer, idx, overlay=True)


def _open_pdf(source: str, password: str | None):
    """The input PDF, opened and authenticated as the run opened it (render's checks and messages)."""
    from vlparse.pages.render import PdfSource

    try:
        return PdfSource(source, password).doc  # the caller saves and closes it
    except InputError as e:
        raise InputError(f"{source}: {e.message}") from None


def _image_pdf(source: str):
    """A PDF with one page per image frame, each at the image's size, showing it exactly."""
    import io

    import pymupdf
    from PIL import Image

    from vlparse.pages.render import open_source

    with Image.open(source) as im:
        fmt, dpi = im.format, im.info.get("dpi")
        oriented = im.getexif().get(0x0112, 1) in (1, None)
    try:
        dx, dy = (float(v) for v in dpi)
        if not all(_PLAUSIBLE_DPI[0] <= v <= _PLAUSIBLE_DPI[1] for v in (dx, dy)):
            raise ValueError
    except (TypeError, ValueError):
        dx = dy = 72.0
    pdf = pymupdf.open()
    with open_source(source) as src:
        for n in range(1, src.page_count + 1):
            img = src.original_image(n)  # the page pixel space of bbox_px (EXIF orientation applied)
            page = pdf.new_page(width=img.width * 72 / dx, height=img.height * 72 / dy)
            if src.page_count == 1 and oriented and fmt in ("JPEG", "PNG"):
                data = Path(source).read_bytes()  # as it is: no second compression
            else:
                buf = io.BytesIO()
                img.save(buf, format="JPEG" if fmt == "JPEG" else "PNG", quality=95)
                data = buf.getvalue()
            page.insert_image(page.rect, stream=data, keep_proportion=False)
    return pdf


def build_searchable_pdf(doc: Document, source: str, *, password: str | None = None,
                         skip_text_pages: bool = True):
    """The searchable copy as an open PyMuPDF document (the caller saves and closes it), and the
    numbers of the pages left as they were because they already have text.

    Such pages (born-digital, or OCRed before) get no layer unless ``skip_text_pages`` is False:
    a second layer would double every search hit and every copied line.
    """
    import pymupdf

    from vlparse.pages.render import PDF_LOCK

    kind = next((p.info.kind for p in doc.pages), "pdf")
    with PDF_LOCK:
        base = _image_pdf(source) if kind == "image" else _open_pdf(source, password)
        layer = pymupdf.open()
        placed, skipped = [], []
        try:
            for page in doc.pages:
                n = page.info.page
                if not 1 <= n <= base.page_count:
                    raise InputError(f"{source}: page {n} was parsed but the file has {base.page_count} page(s)")
                bpage = base[n - 1]
                w, h = bpage.rect.width, bpage.rect.height
                if page.info.width_pt and page.info.height_pt and (
                        abs(page.info.width_pt - w) > 1 or abs(page.info.height_pt - h) > 1):
                    raise InputError(f"{source}: page {n} is {w:g}x{h:g} pt now but was parsed at "
                                     f"{page.info.width_pt:g}x{page.info.height_pt:g} pt; the file changed")
                if not any(b.text.strip() for b in page.blocks):
                    continue
                if skip_text_pages and bpage.get_text("text").strip():
                    skipped.append(n)
                    continue
                lines = page_lines(page, w, h, Ink(bpage))
                if lines:
                    _text_page(layer, bpage, lines)
                    placed.append((bpage, layer.page_count - 1))
            if placed:
                layer.subset_fonts()
            for bpage, idx in placed:
                _overlay(bpage, layer, idx)
        except BaseException:
            base.close()
            raise
        finally:
            layer.close()
    return base, skipped


def write_searchable_pdf(doc: Document, source: str, target: str, *, password: str | None = None,
                         skip_text_pages: bool = True) -> Path:
    """Write the searchable copy of ``source`` to ``target`` (atomically; ``source`` is only read).

    Pages that already carry text keep it and get no second layer (a note on stderr says which),
    unless ``skip_text_pages`` is False.
    """
    from vlparse.run import console
    from vlparse.pages.render import PDF_LOCK

    src, dst = Path(source), Path(target)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise UsageError(f"{target}: the searchable PDF would overwrite its own input; choose another output")
    pdf, skipped = build_searchable_pdf(doc, source, password=password, skip_text_pages=skip_text_pages)
    if skipped:
        pages = ", ".join(map(str, skipped))
        console.info(f"{source}: page(s) {pages} already have a text layer; the searchable copy keeps it as it is")
    try:
        with PDF_LOCK:
            data = pdf.tobytes(garbage=1, deflate=True, **_encryption(pdf, password))
        atomic_write_bytes(dst, data)
    finally:
        pdf.close()
    return dst


def _encryption(pdf, password: str | None) -> dict:
    """Save options that keep an encrypted input encrypted.

    MuPDF cannot keep the original encryption without the owner password, so the copy is
    encrypted anew: AES-256, the same user password (empty if the input opened without one), the
    same permissions, and an owner password nobody knows (the input's is not carried over).
    """
    import secrets

    import pymupdf

    if not (pdf.metadata or {}).get("encryption"):
        return {}
    return {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": password or "",
            "owner_pw": secrets.token_urlsafe(24), "permissions": pdf.permissions}
