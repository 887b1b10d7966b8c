"""hOCR 1.2 export: one XHTML document, one ``ocr_page`` per parsed page.

Structure (spec: hOCR 1.2, kba/hocr-spec; every ``bbox`` in the page's pixels, ``bbox_px``)::

    <div class="ocr_page" title="image "scan.png"; bbox 0 0 W H; ppageno 0">     (PDFs: x_source, scan_res)
      <div class="ocr_carea" title="bbox …" data-block-type="paragraph">       (floats: ocr_header, …)
        <p class="ocr_par" title="bbox …">                                      (headings: <h1 class="ocr_par">)
          <span class="ocr_line" title="bbox …">text</span>

A block becomes a content area (``ocr_carea``), or the float the spec has for it (``ocr_header``,
``ocr_footer``, ``ocr_pageno``, ``ocr_table``, ``ocr_image`` for figures, ``ocr_linedrawing`` for
charts, ``ocr_caption``); its vlparse type is kept in ``data-block-type``. Line boxes come from the
answer (``attrs.lines``, or a list's boxed ``items``); a block without them is one ``ocr_line`` over
the block's box. The model gives no word boxes; a block verified against the PDF's text layer (every word
aligned, :func:`~vlparse.export.lines.layer_word_lines`) gets ``ocrx_word`` spans: the model's words with the
layer words' boxes, lines grouped from them. No word box is ever invented. Blocks without a box keep their
text and omit ``bbox``.
"""

from __future__ import annotations

from pathlib import PurePath

from lxml import etree

from vlparse import __version__
from vlparse.core.results import Block, Document, PageResult
from vlparse.export.lines import block_lines, int_box, layer_word_lines, source_name, xml_text

XHTML = "http://www.w3.org/1999/xhtml"

#: block type -> class of the block's element (everything else is an ``ocr_carea``)
FLOAT_CLASS: dict[str, str] = {
    "header": "ocr_header",
    "footer": "ocr_footer",
    "page_number": "ocr_pageno",
    "table": "ocr_table",
    "figure": "ocr_image",
    "chart": "ocr_linedrawing",
    "caption": "ocr_caption",
}

#: every class this exporter can write (the spec asks for all of them, used or not)
CAPABILITIES: tuple[str, ...] = ("ocr_page", "ocr_carea", "ocr_par", "ocr_line", "ocrx_word",
                                  *sorted(set(FLOAT_CLASS.values())))


def _quote(value: str) -> str:
    """A string value of an hOCR property: double-quoted; quotes and ';' (the separator) escaped."""
    return '"' + value.replace("\\", "/").replace('"', "%22").replace(";", "%3B") + '"'


def _title(*props: str | None) -> str:
    return "; ".join(p for p in props if p)


def _bbox(box) -> str | None:
    return f"bbox {box[0]} {box[1]} {box[2]} {box[3]}" if box else None


def _el(parent, tag: str, cls: str | None = None, title: str | None = None, **attrs: str):
    el = etree.SubElement(parent, f"{{{XHTML}}}{tag}")
    if cls:
        el.set("class", cls)
    if title:
        el.set("title", title)
    for k, v in attrs.items():
        el.set(k.replace("_", "-"), v)
    return el


def _page_title(page: PageResult) -> str:
    info = page.info
    src = source_name(info.source)
    props = [f"image {_quote(src)}" if info.kind == "image" else f"x_source {_quote(src)} {info.page}",
             f"bbox 0 0 {info.width_px} {info.height_px}", f"ppageno {info.page - 1}"]
    frame = info.frame
    if info.kind == "pdf" and frame.pt_per_px_x and frame.pt_per_px_y:
        props.append(f"scan_res {round(72 / frame.pt_per_px_x)} {round(72 / frame.pt_per_px_y)}")
    return _title(*props)


def _block(parent, block: Block, ids: str, width: int, height: int, frame=None, words=None) -> None:
    box = int_box(block.bbox_px, width, height)
    cls = FLOAT_CLASS.get(block.type, "ocr_carea")
    area = _el(parent, "div", cls, _bbox(box), id=f"block_{ids}", data_block_type=block.type)
    lines = block_lines(block)
    if not lines:
        area.text = ""  # <div></div>, never <div/>: HTML parsers would nest what follows inside it
        return
    level = block.attrs.get("level") if block.type == "heading" else None
    par_tag = f"h{level}" if isinstance(level, int) and 1 <= level <= 6 else "p"
    par = _el(area, par_tag, "ocr_par", _bbox(box), id=f"par_{ids}")
    word_lines = layer_word_lines(block, frame, words)
    if word_lines:
        for n, (line_box, words) in enumerate(word_lines, 1):
            line = _el(par, "span", "ocr_line", _bbox(int_box(line_box, width, height)), id=f"line_{ids}_{n}")
            for k, (text, wbox) in enumerate(words, 1):
                word = _el(line, "span", "ocrx_word", _bbox(int_box(wbox, width, height)), id=f"word_{ids}_{n}_{k}")
                word.text = text
                if k < len(words):
                    word.tail = " "
            if n < len(word_lines):
                line.tail = "\n"
        return
    for n, (text, line_box) in enumerate(lines, 1):
        line = _el(par, "span", "ocr_line", _bbox(int_box(line_box, width, height)), id=f"line_{ids}_{n}")
        line.text = text
        if n < len(lines):
            line.tail = "\n"


def render_hocr(doc: Document, layers: dict | None = None) -> str:
    """The document as one hOCR 1.2 file (XHTML, UTF-8); ``layers``: page number -> the page's text-layer words
    (word boxes for verified blocks)."""
    html = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML})
    html.set("lang", "und")
    head = _el(html, "head")
    _el(head, "title").text = xml_text(PurePath(doc.source).name)
    _el(head, "meta", http_equiv="Content-Type", content="text/html; charset=utf-8")
    _el(head, "meta", name="ocr-system", content=f"vlparse {__version__}")
    _el(head, "meta", name="ocr-capabilities", content=" ".join(CAPABILITIES))
    _el(head, "meta", name="ocr-number-of-pages", content=str(len(doc.pages)))
    if doc.model:
        _el(head, "meta", name="vlparse-model", content=xml_text(doc.model))
    if doc.family:
        _el(head, "meta", name="vlparse-family", content=xml_text(doc.family))
    body = _el(html, "body")
    for page in doc.pages:
        info = page.info
        el = _el(body, "div", "ocr_page", _page_title(page), id=f"page_{info.page}", data_status=page.status)
        el.text = "" if not page.blocks else None
        for i, block in enumerate(page.blocks, 1):
            _block(el, block, f"{info.page}_{i}", info.width_px, info.height_px, info.frame, (layers or {}).get(info.page))
    return etree.tostring(html, encoding="unicode", doctype="<!DOCTYPE html>", pretty_print=True).replace(
        "<!DOCTYPE html>", '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>', 1)
