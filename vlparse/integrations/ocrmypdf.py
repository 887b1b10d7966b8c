"""vlparse as OCRmyPDF's OCR engine: ``ocrmypdf --plugin vlparse.ocrmypdf in.pdf out.pdf`` (the ``ocrmypdf`` extra).

How a page goes through (OCRmyPDF's plugin API, ``ocrmypdf.pluginspec``, read from its installed source):

1. OCRmyPDF rasterises the page at its own DPI (and deskews/cleans/rotates it if asked) and hands
   the image to :meth:`VlparseEngine.generate_ocr` in a worker.
2. vlparse's geometry decides the size the model sees for that image (``model_size``: the family's
   factor and the document pixel budget, ``--vlparse-max-pixels``); the image is resized to it
   (LANCZOS) and sent with the family's document prompt ("QwenVL HTML").
3. The answer goes through vlparse's parser, validation and repair; boxes come back in the pixels
   of OCRmyPDF's image (``Frame``: model pixels -> image pixels).
4. The text layer: vlparse makes the lines (the answer's own line boxes, else the block's text laid
   onto the printed lines inside the block, found in the page image's ink: the same fitting as
   ``vlparse doc --searchable-pdf``) and returns them as OCRmyPDF's element tree (page -> one
   paragraph per block -> lines -> words). OCRmyPDF draws it with its own renderer (fpdf2, the
   default ``--pdf-renderer``), grafts it and makes the PDF/A.

   Why OCRmyPDF draws the layer (``generate_ocr``) rather than vlparse's own PDF (``generate_pdf``):
   OCRmyPDF only calls ``generate_pdf`` for the legacy ``--pdf-renderer sandwich``; its default
   renderer takes the element tree, handles rotation, fonts for every script, right-to-left text,
   the graft onto the page and PDF/A, and keeps working with its other options. vlparse's part is
   what it is good at: the text, and where each line is. Word boxes inside a line are estimates
   (the line cut in proportion to the glyphs' widths): the model gives no word boxes.

Workers: OCRmyPDF runs pages in parallel (threads by default, processes with ``--no-use-threads``).
The backend is made once per process and shared by its threads (a lock around generation), so a
local model is loaded once: with a local model the plugin forces threads (``use_threads``). Servers
(``--vlparse-base-url``) and recorded answers (``--vlparse-from-output``) work with any worker kind.

Tesseract is never needed: when this plugin is loaded it blocks OCRmyPDF's built-in Tesseract plugin
(its ``check_options`` would look for the ``tesseract`` program) and answers ``get_ocr_engine``.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from ocrmypdf import hookimpl
from ocrmypdf.exceptions import BadArgsError, MissingDependencyError
from ocrmypdf.models.ocr_element import BoundingBox, OcrClass, OcrElement
from ocrmypdf.pluginspec import OcrEngine, OrientationConfidence

log = logging.getLogger(__name__)

TESSERACT_PLUGIN = "ocrmypdf.builtin_plugins.tesseract_ocr"
_BACKENDS: dict[tuple, Any] = {}  # settings -> (backend, lock): one per process
_BACKENDS_LOCK = threading.Lock()

#: the plugin's command-line options: (flag, argparse keywords)
OPTIONS = (
    ("--vlparse-model", dict(metavar="PATH_OR_ID", help="Local model (default: $VLPARSE_MODEL or vlparse's "
                                                        "default). Loaded once; pages run one at a time.")),
    ("--vlparse-family", dict(metavar="FAMILY", help="Model family (qwen2.5-vl, qwen3-vl); needed with "
                                                     "--vlparse-from-output.")),
    ("--vlparse-base-url", dict(metavar="URL", action="append", help="OpenAI-compatible server (vLLM, SGLang), "
                                                                     "e.g. http://127.0.0.1:8000/v1; repeatable.")),
    ("--vlparse-api-model", dict(metavar="NAME", help="The served model's name.")),
    ("--vlparse-from-output", dict(metavar="PATH", help="Recorded answers (page-N.html files or a --raw JSONL), "
                                                        "keyed by page number.")),
    ("--vlparse-max-pixels", dict(metavar="N", type=int, help="Pixel budget of the model's image (default: "
                                                              "vlparse's document budget).")),
    ("--vlparse-max-new-tokens", dict(metavar="N", type=int, default=8192, help="Token limit per page answer.")),
)


def _opt(options, name: str, default=None):
    """A plugin option: argparse stores unknown options in OcrOptions.extra_attrs."""
    extra = getattr(options, "extra_attrs", None) or {}
    value = extra[name] if name in extra else getattr(options, name, None)
    return default if value is None else value


def _backend_options(options):
    from vlparse.backends.factory import BackendOptions

    urls = list(_opt(options, "vlparse_base_url", []) or [])
    return BackendOptions(backend="openai" if urls else "local", model=_opt(options, "vlparse_model"),
                          family=_opt(options, "vlparse_family"), base_urls=urls,
                          api_model=_opt(options, "vlparse_api_model"),
                          from_output=_opt(options, "vlparse_from_output"))


def _settings(options) -> tuple:
    return tuple(str(_opt(options, n, "")) for n in ("vlparse_model", "vlparse_family", "vlparse_base_url",
                                                     "vlparse_api_model", "vlparse_from_output"))


def _session(options):
    """(family, backend, lock, prompt) for these options, made once per process."""
    key = _settings(options)
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            from vlparse.backends.factory import backend_factory, resolve_family
            from vlparse.run.prompts import load_prompt

            bopts = _backend_options(options)
            family = resolve_family(bopts)
            if not family.html:
                raise BadArgsError(f"vlparse: {family.title} was not trained for QwenVL HTML document parsing; "
                                   "use a Qwen2.5-VL or Qwen3-VL model")
            backend = backend_factory(bopts, family)()
            _BACKENDS[key] = (family, backend, threading.Lock(), load_prompt(family, "doc"))
        return _BACKENDS[key]


@hookimpl
def initialize(plugin_manager):
    # vlparse is the OCR engine: OCRmyPDF's Tesseract plugin would insist on the tesseract program
    plugin_manager.set_blocked(TESSERACT_PLUGIN)


@hookimpl
def register_options():
    # OCRmyPDF's option validation reads options.tesseract even when its Tesseract plugin is blocked: keep the
    # namespace registered (its option model is plain data; the tesseract program is never run)
    from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOptions

    return {"tesseract": TesseractOptions}


@hookimpl
def add_options(parser):
    group = parser.add_argument_group("vlparse", "vlparse (Qwen VL) as the OCR engine")
    for flag, kwargs in OPTIONS:
        group.add_argument(flag, **kwargs)


@hookimpl
def check_options(options):
    from vlparse.core.errors import VlparseError

    bopts = _backend_options(options)
    try:
        from vlparse.backends.factory import resolve_family

        family = resolve_family(bopts)
        if bopts.from_output is not None:
            from vlparse.backends.recorded import load_recorded

            load_recorded(bopts.from_output)
    except VlparseError as e:
        raise BadArgsError(f"vlparse: {_plugin_flags(e.message)}") from None
    if not family.html:
        raise BadArgsError(f"vlparse: {family.title} was not trained for QwenVL HTML document parsing")
    if bopts.backend == "local" and bopts.from_output is None and not options.use_threads:
        log.info("vlparse: a local model is loaded once and shared by threads: using threads, not processes")
        options.use_threads = True
    if options.pdf_renderer == "sandwich":
        raise BadArgsError("vlparse: use the default --pdf-renderer (the text layer is OCRmyPDF's element tree)")


def _plugin_flags(message: str) -> str:
    """vlparse's messages name its CLI flags; under OCRmyPDF they are spelled --vlparse-*."""
    return re.sub(r"(?<![\w-])--(family|from-output|base-url|model|api-model|max-pixels|max-new-tokens)\b",
                  r"--vlparse-\1", message)


def _ocrmypdf_error(e) -> Exception:
    """A vlparse error as the OCRmyPDF exception with the nearest exit code (it prints one line for those)."""
    from ocrmypdf.exceptions import ExitCodeException

    from vlparse.core.errors import InputError, ModelError, UsageError

    msg = f"vlparse: {_plugin_flags(e.message)}"
    if isinstance(e, (UsageError, InputError)):
        return BadArgsError(msg)
    if isinstance(e, ModelError):
        return MissingDependencyError(msg)
    return ExitCodeException(msg)  # server unreachable, out of memory: OCRmyPDF's "other error"


@hookimpl
def get_ocr_engine(options):
    return VlparseEngine()


# --------------------------------------------------------------------------- one page


def recognise(image_path: Path, options, page_number: int):
    """(PageResult in the pixels of OCRmyPDF's image, the image) for one page image."""
    from PIL import Image

    from vlparse.backends.base import Request
    from vlparse.core.geometry import Budget, Frame, model_size
    from vlparse.core.results import FAILED, PageInfo
    from vlparse.run.tasks import Decoding, Task

    family, backend, lock, prompt = _session(options)
    with Image.open(image_path) as im:
        image = im.convert("RGB")
    width, height = image.size
    max_pixels = _opt(options, "vlparse_max_pixels") or family.default_max_pixels("doc")
    budget = Budget(min(family.default_min_pixels(), max_pixels), max_pixels)
    mw, mh = model_size(family, width, height, budget)
    model_image = image if (mw, mh) == (width, height) else image.resize((mw, mh), Image.Resampling.LANCZOS)
    log.debug("vlparse: page %d: OCRmyPDF's image %dx%d, the model's %dx%d", page_number + 1, width, height, mw, mh)
    info = PageInfo(str(image_path), page_number + 1, Frame(width, height, mw, mh))
    max_new = int(_opt(options, "vlparse_max_new_tokens", 8192))
    request = Request(f"{image_path}#{page_number + 1}", model_image, prompt, max_new,
                      min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    with lock:
        [answer] = backend.generate([request])
    task = Task("doc", family, prompt, Decoding(max_new))
    if answer.finish_reason == "error":
        log.warning("vlparse: page %d: %s", page_number + 1, _plugin_flags(answer.error or ""))
        from vlparse.core.results import PageResult

        return PageResult(info, FAILED, error=answer.error), image
    result = task.parse(answer.text, answer.finish_reason, info)
    for w in result.warnings:
        log.info("vlparse: page %d: %s", page_number + 1, _plugin_flags(w))
    return result, image


def _ink(image, dpi: float):
    """The page's ink (to fit lines to the printed text), at about 100 dpi, in the image's pixels."""
    from PIL import Image

    from vlparse.export.searchable_pdf import Ink

    scale = min(1.0, Ink.DPI / dpi) if dpi else 1.0
    grey = image.convert("L")
    if scale < 1.0:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                           Image.Resampling.BOX)
    return Ink.from_mask(grey, scale)


def _words(text: str, box) -> list[OcrElement]:
    """The line cut into words in proportion to their glyph widths (estimates: the model gives no word boxes)."""
    from vlparse.export.searchable_pdf import _width

    x0, y0, x1, y1 = box
    total = _width(text) or 1.0
    words, pos = [], 0.0
    for token in text.split(" "):
        w = _width(token)
        if token:
            left = x0 + (x1 - x0) * pos / total
            right = x0 + (x1 - x0) * (pos + w) / total
            words.append(OcrElement(ocr_class=OcrClass.WORD, text=token,
                                    bbox=BoundingBox(left=left, top=y0, right=max(right, left + 1), bottom=y1)))
        pos += w + _width(" ")
    return words


def element_tree(result, image, dpi: float, page_number: int) -> tuple[OcrElement, str]:
    """OCRmyPDF's element tree for one parsed page (coordinates in the image's pixels) and its plain text."""
    from vlparse.export.searchable_pdf import _block_lines

    width, height = image.size
    ink = _ink(image, dpi)

    def px(box):
        if not box or len(box) != 4:
            return None
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1 = sorted((max(0.0, x0), min(float(width), x1)))
        y0, y1 = sorted((max(0.0, y0), min(float(height), y1)))
        return (x0, y0, x1, y1) if x1 - x0 > 1 and y1 - y0 > 1 else None

    page = OcrElement(ocr_class=OcrClass.PAGE, bbox=BoundingBox(left=0, top=0, right=width, bottom=height),
                      dpi=float(dpi), page_number=page_number)
    texts = []
    for block in result.blocks:
        lines = [ln for ln in _block_lines(block, px, ink) if ln.text.strip()]
        if not lines:
            continue
        kind = {"header": OcrClass.HEADER, "footer": OcrClass.FOOTER, "page_number": OcrClass.FOOTER,
                "caption": OcrClass.CAPTION}.get(block.type, OcrClass.LINE)
        para_box = (min(ln.rect[0] for ln in lines), min(ln.rect[1] for ln in lines),
                    max(ln.rect[2] for ln in lines), max(ln.rect[3] for ln in lines))
        para = OcrElement(ocr_class=OcrClass.PARAGRAPH, bbox=BoundingBox(*para_box))
        for ln in lines:
            x0, y0, x1, y1 = ln.rect
            para.children.append(OcrElement(ocr_class=kind, bbox=BoundingBox(left=x0, top=y0, right=x1, bottom=y1),
                                            children=_words(ln.text, ln.rect)))
        page.children.append(para)
        texts.append("\n".join(ln.text for ln in lines))
    return page, "\n\n".join(texts) + ("\n" if texts else "")


def page_from_name(image_path: Path) -> int:
    """OCRmyPDF names a page's files ``000003_ocr.png`` (page 3): the 0-based page for hooks not given it."""
    m = re.match(r"^(\d{6})_", image_path.name)
    return max(0, int(m.group(1)) - 1) if m else 0


def _dpi(image_path: Path) -> float:
    from PIL import Image

    with Image.open(image_path) as im:
        d = im.info.get("dpi", (300, 300))
    return float(d[0] if isinstance(d, tuple) else d) or 300.0


class VlparseEngine(OcrEngine):
    """OCRmyPDF's OCR engine interface, answered by vlparse (see the module docstring)."""

    @staticmethod
    def version() -> str:
        import vlparse

        return vlparse.__version__

    @staticmethod
    def creator_tag(options) -> str:
        import vlparse

        return f"vlparse {vlparse.__version__}"

    def __str__(self) -> str:
        import vlparse

        return f"vlparse {vlparse.__version__} (Qwen VL)"

    @staticmethod
    def languages(options) -> set[str]:
        # the Qwen VL models read many scripts without a language setting: accept what was asked
        return set(getattr(options, "languages", None) or []) | {"eng"}

    @staticmethod
    def get_orientation(input_file: Path, options) -> OrientationConfidence:
        return OrientationConfidence(angle=0, confidence=0.0)

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        return 0.0

    @staticmethod
    def supports_generate_ocr() -> bool:
        return True

    @staticmethod
    def generate_ocr(input_file: Path, options, page_number: int = 0) -> tuple[OcrElement, str]:
        from vlparse.core.errors import VlparseError

        try:
            result, image = recognise(Path(input_file), options, page_number)
        except VlparseError as e:
            raise _ocrmypdf_error(e) from None
        return element_tree(result, image, _dpi(Path(input_file)), page_number)

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options) -> None:
        """hOCR of the page (vlparse's hOCR export). OCRmyPDF 17 calls generate_ocr; this serves releases and
        paths that still ask for hOCR (the page number comes from OCRmyPDF's file name)."""
        from vlparse.core.results import Document
        from vlparse.export.hocr import render_hocr

        from vlparse.core.errors import VlparseError

        try:
            result, _ = recognise(Path(input_file), options, page_from_name(Path(input_file)))
        except VlparseError as e:
            raise _ocrmypdf_error(e) from None
        doc = Document(str(input_file), "", "vlparse", [result])
        Path(output_hocr).write_text(render_hocr(doc), encoding="utf-8")
        Path(output_text).write_text("\n\n".join(b.text for b in result.blocks if b.text), encoding="utf-8")

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options) -> None:
        raise MissingDependencyError("vlparse makes no sandwich text PDF: use the default --pdf-renderer")


__all__ = ["VlparseEngine", "add_options", "check_options", "element_tree", "get_ocr_engine", "initialize",
           "recognise", "register_options"]
