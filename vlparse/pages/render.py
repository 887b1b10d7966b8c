"""PDFs and images -> pages at the model's native size, each with its exact geometry.

A PDF page is rendered *straight* to the size the model will see: the zoom is chosen so the page
fills the pixel budget (capped by ``--dpi``), then nudged per axis so both sides land on the
family's factor. The processor then has nothing left to resample, small text stays sharp, and
the page pixel space (``bbox_px``) is exactly the model's pixel space. PDF points of the displayed
page (rotation and cropbox applied, top-left origin) are ``px * width_pt / width_px``.

An image keeps its own pixels as the page pixel space (EXIF orientation applied: the image as
viewers show it); the model gets a copy resized to the processor's ``smart_resize`` size.

Only PyMuPDF and Pillow are imported here (no torch), so ``vlparse render`` starts fast.
MuPDF is not thread-safe: every PyMuPDF call in vlparse holds :data:`PDF_LOCK`.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vlparse.core.errors import InputError, UsageError, VlparseError
from vlparse.core.families import Family
from vlparse.core.geometry import MAX_ASPECT_RATIO, Budget, Frame, model_size
from vlparse.core.results import PageInfo

#: every PyMuPDF call holds this lock (MuPDF's context is shared between threads)
PDF_LOCK = threading.RLock()
#: decompression-bomb guard for images (Pillow's own hard limit is twice its 89.5 MP warning level)
MAX_IMAGE_PIXELS = 179_000_000
#: guard against absurd documents
MAX_PDF_PAGES = 20_000

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jp2", ".pnm", ".ppm", ".pgm"}
PDF_SUFFIXES = {".pdf"}


class PageError(VlparseError):
    """One page cannot be rendered (the rest of its document may be fine)."""


@dataclass
class RenderedPage:
    image: object  # PIL.Image.Image, RGB, at the model's native size
    info: PageInfo
    text_layer: object = None  # vlparse.pages.textlayer.TextLayer when the run verifies against it
    warnings: list[str] = field(default_factory=list)  # the input's and the page's, for the page's result


def page_ranges(spec: str | None) -> list[tuple[int, int | None]]:
    """``"1-3,7,10-"`` -> ``[(1, 3), (7, 7), (10, None)]``; a UsageError for a selection no document can satisfy.

    Checked once per run, before any input is opened (a bad ``--pages`` is a usage error, not one per input).
    """
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return [(1, None)]
    ranges: list[tuple[int, int | None]] = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                a, _, b = part.partition("-")
                lo, hi = (int(a) if a else 1), (int(b) if b else None)
            else:
                lo = hi = int(part)
        except ValueError:
            raise UsageError(f"--pages '{spec}': '{part}' is not a page number or range (e.g. 1-3,7,10-)") from None
        if lo < 1 or (hi is not None and hi < lo):
            raise UsageError(f"--pages '{spec}': '{part}' is not a valid range (pages count from 1)")
        ranges.append((lo, hi))
    return ranges


def parse_page_selection(spec: str | None, count: int) -> list[int]:
    """``"1-3,7,10-"`` -> sorted 1-based page numbers within ``1..count``.

    Pages past the end of the document are ignored (one selection serves documents of different
    lengths); a selection that leaves no page is an error.
    """
    if count <= 0:
        raise InputError("the document has no pages")
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return list(range(1, count + 1))
    pages: set[int] = set()
    for lo, hi in page_ranges(spec):
        pages.update(range(lo, min(count if hi is None else hi, count) + 1))
    if not pages:
        raise InputError(f"--pages {spec} selects no page of this {count}-page document")
    return sorted(pages)


def page_target_size(family: Family, width_pt: float, height_pt: float, budget: Budget,
                     dpi: float | None = None) -> tuple[int, int]:
    """(width, height) in pixels to render a ``width_pt`` x ``height_pt`` page at: the model's native size.

    The zoom fills ``budget.max_pixels`` (never above ``dpi``); ``smart_resize`` then puts both sides on
    the factor within the budget, exactly as the processor would.
    """
    if min(width_pt, height_pt) <= 0:
        raise PageError(f"the page has no area ({width_pt:g}x{height_pt:g} pt)")
    if max(width_pt, height_pt) / min(width_pt, height_pt) > MAX_ASPECT_RATIO:
        raise PageError(f"the page is too elongated for the model ({width_pt:g}x{height_pt:g} pt, aspect ratio above "
                        f"{MAX_ASPECT_RATIO})")
    zoom = (budget.max_pixels / (width_pt * height_pt)) ** 0.5
    if dpi:
        zoom = min(zoom, dpi / 72.0)
    if family.fixed_size:  # the model squashes every image to a square: render at the budget, keep the aspect
        return max(1, round(width_pt * zoom)), max(1, round(height_pt * zoom))
    try:
        return model_size(family, width_pt * zoom, height_pt * zoom, budget)
    except ValueError as e:
        raise PageError(str(e)) from None


class Source:
    """An opened input: a PDF or an image file (multi-frame TIFFs are pages)."""

    kind: str = ""
    page_count: int = 0

    def __init__(self, path: str):
        self.path = path
        #: about the whole input (a repaired PDF): stderr, the manifest and every page's warnings carry it
        self.warnings: list[str] = []
        #: about one page (page number -> lines), found while rendering it
        self.page_warnings: dict[int, list[str]] = {}

    def page(self, number: int, family: Family, budget: Budget, dpi: float | None = None) -> RenderedPage:
        raise NotImplementedError

    def original_image(self, number: int, scale_to: tuple[int, int] | None = None):
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _quiet_mupdf() -> None:
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)


class PdfSource(Source):
    kind = "pdf"

    def __init__(self, path: str, password: str | None = None, *, data: bytes | None = None):
        super().__init__(path)
        import pymupdf

        with PDF_LOCK:
            _quiet_mupdf()
            try:
                if data is not None:
                    doc = pymupdf.open(stream=data, filetype="pdf")
                elif _utf8(path):
                    doc = pymupdf.open(path, filetype="pdf")
                else:  # MuPDF takes file names as UTF-8: read a name that is not from its bytes
                    with open(path, "rb") as f:
                        doc = pymupdf.open(stream=f.read(), filetype="pdf")
            except pymupdf.EmptyFileError:
                raise InputError("the file is empty") from None
            except (pymupdf.FileDataError, RuntimeError, ValueError) as e:
                raise InputError(f"not a readable PDF (corrupt or truncated: {_short(e)})") from None
            if doc.needs_pass:
                if not password:
                    doc.close()
                    raise InputError("the PDF is encrypted; give its password with --password")
                if not doc.authenticate(password):
                    doc.close()
                    raise InputError("wrong password for this encrypted PDF (--password)")
            try:
                count = doc.page_count
            except Exception as e:  # noqa: BLE001 - MuPDF raises plain RuntimeErrors on broken trees
                doc.close()
                raise InputError(f"not a readable PDF ({_short(e)})") from None
        if count == 0:
            doc.close()
            raise InputError("the PDF has no pages")
        if count > MAX_PDF_PAGES:
            doc.close()
            raise InputError(f"{count} pages is more than the {MAX_PDF_PAGES}-page guard; split the document")
        self.doc = doc
        self.page_count = count
        self._last_dlist = None  # (page number, display list, page rect) of the page rendered last
        if getattr(doc, "is_repaired", False):
            self.warnings.append("MuPDF had to repair this PDF (damaged or truncated): content may be missing")
        self._normalised: set[int] = set()

    def _page(self, number: int):
        """The page, its /Rotate snapped to a multiple of 90 the way MuPDF renders it (caller holds PDF_LOCK).

        A /Rotate of 45 is shown by MuPDF as 90 while PyMuPDF reports 0: the rendered page and the reported
        rotation (and the PDF points mapped through it) would disagree. Setting the rotation MuPDF uses on
        the in-memory document makes every later step agree; the input file is never changed.
        """
        page = self.doc[number - 1]
        if number not in self._normalised:
            self._normalised.add(number)
            raw = _inherited_rotate(self.doc, page.xref)
            if raw is not None and raw % 90:
                shown = snap_rotation(int(raw))
                if shown != page.rotation:
                    page.set_rotation(shown)
                self.page_warnings.setdefault(number, []).append(
                    f"/Rotate {raw:g} is not a multiple of 90: rendered as {shown}, as viewers show it")
                page = self.doc[number - 1]
        return page

    def _render(self, number: int, width: int, height: int):
        """The displayed page (rotation and cropbox applied) rendered to exactly width x height, RGB."""
        import pymupdf
        from PIL import Image

        with PDF_LOCK:
            try:
                page = self._page(number)
                rect = page.rect
                mat = pymupdf.Matrix(width / rect.width, height / rect.height)
                # what Page.get_pixmap does, keeping the display list: text_layer() reads the same page from it
                # without interpreting the page's content again
                dlist = page.get_displaylist(annots=True)
                pix = dlist.get_pixmap(matrix=mat, alpha=False, colorspace=pymupdf.csRGB)
                self._last_dlist = (number, dlist, rect)
            except Exception as e:  # noqa: BLE001 - one broken page must not cost the document
                raise PageError(f"page {number} cannot be rendered: {_short(e)}") from None
            img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
        if img.size != (width, height):  # MuPDF rounding (not seen in practice): never let geometry drift
            img = img.resize((width, height), Image.Resampling.LANCZOS)
        return img

    def page_size_pt(self, number: int) -> tuple[float, float, int]:
        with PDF_LOCK:
            try:
                page = self._page(number)
                return page.rect.width, page.rect.height, page.rotation
            except Exception as e:  # noqa: BLE001
                raise PageError(f"page {number} cannot be read: {_short(e)}") from None

    def text_layer(self, number: int):
        """The page's own text layer (:mod:`vlparse.pages.textlayer`), boxes in ``bbox_pt`` space.

        Right after :meth:`page` rendered the same page, the text comes from that rendering's display list
        (the page's content is interpreted once for both).
        """
        from vlparse.pages.textlayer import read_text_layer, text_layer_from_displaylist

        with PDF_LOCK:
            last, self._last_dlist = self._last_dlist, None
            try:
                if last is not None and last[0] == number:
                    return text_layer_from_displaylist(last[1], last[2])
                return read_text_layer(self.doc[number - 1])
            except Exception as e:  # noqa: BLE001 - one broken page must not cost the document
                raise PageError(f"page {number}: text layer cannot be read: {_short(e)}") from None

    def page(self, number: int, family: Family, budget: Budget, dpi: float | None = None) -> RenderedPage:
        from PIL import Image

        w_pt, h_pt, rotation = self.page_size_pt(number)
        width, height = page_target_size(family, w_pt, h_pt, budget, dpi)
        img = self._render(number, width, height)
        if family.fixed_size:
            mw = mh = family.fixed_size
            model_img = img.resize((mw, mh), Image.Resampling.BICUBIC)
        else:
            mw, mh = width, height
            model_img = img
        # points per pixel as 1 / zoom, the zoom the JSON records: PageInfo.from_dict rebuilds the same frame
        zoom_x, zoom_y = width / w_pt, height / h_pt
        frame = Frame(width, height, mw, mh, 1 / zoom_x, 1 / zoom_y)
        info = PageInfo(self.path, number, frame, kind="pdf", rotation=rotation, width_pt=round(w_pt, 3),
                        height_pt=round(h_pt, 3), zoom_x=zoom_x, zoom_y=zoom_y)
        return RenderedPage(model_img, info, warnings=[*self.warnings, *self.page_warnings.get(number, [])])

    def original_image(self, number: int, scale_to: tuple[int, int] | None = None):
        if scale_to is None:
            w_pt, h_pt, _ = self.page_size_pt(number)
            scale_to = (round(w_pt * 2), round(h_pt * 2))  # 144 dpi
        return self._render(number, *scale_to)

    def close(self) -> None:
        with PDF_LOCK:
            self._last_dlist = None
            self.doc.close()


class ImageSource(Source):
    kind = "image"

    def __init__(self, path: str, *, data: bytes | None = None, image=None):
        super().__init__(path)
        import io

        from PIL import Image, UnidentifiedImageError

        self._owned = image is None  # an image handed over by the caller is theirs to close
        if image is None and data is None:
            try:
                with open(path, "rb") as f:
                    head = f.read(1)
            except OSError as e:
                raise InputError(f"{e.strerror or e}") from None
            if not head:
                raise InputError("the file is empty")
        Image.MAX_IMAGE_PIXELS = None  # vlparse checks the size itself, with a clear message
        try:
            img = image if image is not None else Image.open(path if data is None else io.BytesIO(data))
        except UnidentifiedImageError:
            raise InputError("not an image Pillow can read (or a corrupt one)") from None
        except OSError as e:
            raise InputError(f"cannot read the image ({_short(e)})") from None
        w, h = img.size
        if w * h > MAX_IMAGE_PIXELS:
            if self._owned:
                img.close()
            raise InputError(f"{w}x{h} = {w * h:,} pixels is above the {MAX_IMAGE_PIXELS:,}-pixel limit "
                             "(decompression-bomb guard); downscale the image first")
        if w <= 0 or h <= 0:
            raise InputError("the image has no pixels")
        self.img = img
        self.page_count = getattr(img, "n_frames", 1) if img.format == "TIFF" else 1

    def _load(self, number: int):
        from PIL import Image, ImageOps

        try:
            self.img.seek(number - 1)
            w, h = self.img.size
            if w * h > MAX_IMAGE_PIXELS:  # every frame of a multi-page TIFF, not just the first
                raise PageError(f"frame {number}: {w}x{h} = {w * h:,} pixels is above the {MAX_IMAGE_PIXELS:,}-pixel "
                                "limit (decompression-bomb guard)")
            frame = ImageOps.exif_transpose(self.img.copy())
            frame.load()
        except (OSError, ValueError, EOFError, SyntaxError) as e:
            raise PageError(f"image frame {number} cannot be decoded ({_short(e)})") from None
        if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
            rgba = frame.convert("RGBA")
            bg = Image.new("RGB", rgba.size, (255, 255, 255))
            bg.paste(rgba, mask=rgba.getchannel("A"))
            return bg
        if frame.mode in ("I;16", "I;16B", "I;16L", "I"):
            frame = frame.point(lambda v: v / 256).convert("L")  # 16-bit scans
        return frame.convert("RGB")

    def page(self, number: int, family: Family, budget: Budget, dpi: float | None = None) -> RenderedPage:
        from PIL import Image

        img = self._load(number)
        w, h = img.size
        try:
            mw, mh = model_size(family, w, h, budget)
        except ValueError as e:
            raise PageError(str(e)) from None
        model_img = img if (mw, mh) == (w, h) else img.resize((mw, mh), Image.Resampling.BICUBIC)
        return RenderedPage(model_img, PageInfo(self.path, number, Frame(w, h, mw, mh), kind="image"))

    def original_image(self, number: int, scale_to: tuple[int, int] | None = None):
        from PIL import Image

        img = self._load(number)
        if scale_to is not None and tuple(scale_to) != img.size:
            img = img.resize(tuple(scale_to), Image.Resampling.LANCZOS)
        return img

    def close(self) -> None:
        if self._owned:
            self.img.close()


@dataclass(frozen=True)
class InMemory:
    """An input that is not a file: the bytes of a PDF or an image, or a PIL image. ``name`` stands for the path
    in results (e.g. ``<bytes 1>``)."""

    name: str
    data: bytes | None = None
    image: object = None  # PIL.Image.Image

    def __str__(self) -> str:
        return self.name


def source_name(source: str | InMemory) -> str:
    """What results call an input: its path as given, or an in-memory input's name."""
    return source.name if isinstance(source, InMemory) else source


def _sniff_head(head: bytes) -> str | None:
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")) or \
            (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:12] == b"ftypavif":
        return "image"
    return None


def sniff_kind(path: str) -> str | None:
    """"pdf", "image" or None, from the file's first bytes (the name's suffix only as a fallback)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None
    kind = _sniff_head(head)
    if kind is not None:
        return kind
    suffix = Path(path).suffix.lower()
    if suffix in PDF_SUFFIXES:
        # no %PDF- header: MuPDF would "repair" an HTML or text file into a page; only a damaged PDF
        # (binary, with PDF objects) is left to MuPDF
        return "pdf" if b" obj" in head or not _looks_textual(head) else None
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


def _looks_textual(head: bytes) -> bool:
    return bool(head) and b"\0" not in head and sum(b < 9 or 13 < b < 32 for b in head) == 0


def _what_it_is(head: bytes) -> str:
    low = head.lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in low[:200]:
        return "an HTML page"
    if low.startswith((b"<?xml", b"<")):
        return "an XML/markup file"
    if _looks_textual(head):
        return "a text file"
    return "an unknown format"


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _os_reason(e: OSError) -> str:
    """One line for an OS error on an input (ELOOP says what it is; the rest as the OS words them)."""
    if e.errno == errno.ELOOP:
        return "a symbolic link loop (too many levels of symbolic links)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.ENOENT:
        return "no such file"
    return (e.strerror or str(e)).lower()


def open_source(path: str | InMemory, *, password: str | None = None) -> Source:
    """Open a PDF or an image; an unreadable input raises :class:`InputError` with one clear line."""
    if isinstance(path, InMemory):
        if path.image is not None:
            return ImageSource(path.name, image=path.image)
        data = bytes(path.data or b"")
        if not data:
            raise InputError("the data is empty")
        kind = _sniff_head(data[:1024])
        if kind == "pdf":
            return PdfSource(path.name, password, data=data)
        if kind == "image" or kind is None:
            return ImageSource(path.name, data=data)
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(_os_reason(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory (use --recursive to read the files in it)")
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a regular file (a FIFO, socket or device)")
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise InputError(_os_reason(e)) from None
    if st.st_size == 0:
        raise InputError("the file is empty")
    kind = sniff_kind(path)
    if kind is None and Path(path).suffix.lower() in PDF_SUFFIXES:
        raise InputError(f"not a PDF: named .pdf, but it is {_what_it_is(head)} (no %PDF- header)")
    if kind == "pdf":
        return PdfSource(path, password)
    if kind == "image":
        return ImageSource(path)
    raise InputError("neither a PDF nor an image vlparse can read")


def snap_rotation(rotate: int) -> int:
    """A /Rotate value as MuPDF renders it: the nearest multiple of 90 in 0..270 (45 -> 90, 44 -> 0, -45 -> 0,
    -46 -> 270), checked against MuPDF's rendering in the tests."""
    rotate %= 360
    return (90 * ((rotate + 45) // 90)) % 360


def _inherited_rotate(doc, xref: int) -> float | None:
    """The page's /Rotate (inherited from its /Parent nodes), None when absent or not a number."""
    for _ in range(64):
        kind, value = doc.xref_get_key(xref, "Rotate")
        if kind in ("int", "float"):
            return float(value)  # MuPDF truncates a real (pdf_to_int): int() does the same
        kind, parent = doc.xref_get_key(xref, "Parent")
        if kind != "xref":
            return None
        xref = int(parent.split()[0])
    return None


def page_images(source: str, pages, password: str | None = None) -> list:
    """Each page's image in its own pixel space (the space of its ``bbox_px``), for drawing on.

    ``pages``: :class:`~vlparse.core.results.PageInfo` objects (or anything with ``page``, ``width_px``, ``height_px``).
    None stands for a page that has no pixel space (it failed) or that cannot be rendered now (warned).
    All images at once: long documents should use :func:`iter_page_images`.
    """
    return list(iter_page_images(source, pages, password))


def iter_page_images(source: str, pages, password: str | None = None):
    """:func:`page_images` one page at a time (memory stays at one page whatever the document's length)."""
    from vlparse.run import console

    pages = list(pages)
    done = 0
    try:
        with open_source(source, password=password) as src:
            for info in pages:
                image = None
                if info.width_px and info.height_px:
                    try:
                        image = src.original_image(info.page, scale_to=(info.width_px, info.height_px)).convert("RGB")
                    except VlparseError as e:
                        console.warn(f"{source} page {info.page}: no page image ({e.message})")
                done += 1
                yield image
    except VlparseError as e:
        console.warn(f"{source}: no page images ({e.message})")
    for _ in range(len(pages) - done):
        yield None


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]
