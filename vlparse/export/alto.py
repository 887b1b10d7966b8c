"""ALTO 4 export: one XML file per document, one ``Page`` per parsed page, positions in pixels.

::

    alto (SCHEMAVERSION 4.4)
      Description: MeasurementUnit pixel, sourceImageInformation/fileName, Processing (vlparse, model)
      Tags: one LayoutTag per block type used (ID "TYPE_heading", LABEL "heading")
      Layout/Page (ID, PHYSICAL_IMG_NR, WIDTH, HEIGHT)/PrintSpace (the whole page)
        TextBlock (TAGREFS: its type)  / TextLine / String CONTENT
        Illustration TYPE="figure"|"chart"                  (a figure without text)
        ComposedBlock TYPE="figure"|"chart": Illustration + TextBlock   (with a caption or text)
        ComposedBlock TYPE="table": TextBlock                            (the table's text)

Choices, each honest about what the model gave:

- Lines come from the answer (``attrs.lines`` or a list's boxed ``items``); a block without them
  is one TextLine over the block's box.
- The model gives no word boxes, so each TextLine holds ONE String with the line's text and the
  line's box (as OCR-D's page-to-alto does for line-level text) instead of words with invented
  positions. Exception: a block verified against the PDF's text layer with every word aligned
  (:func:`~vlparse.export.lines.layer_word_lines`) gets one String per word (the model's word, the
  layer word's box, ``SP`` between them) on lines grouped from those boxes.
- ``Processing`` is used, not ``OCRProcessing`` (deprecated since ALTO 4.0).
- Coordinates are whole pixels of the page image (``bbox_px`` space, the page as rendered for the
  model), rounded outwards; a block without a box is written without positions.

Checked against the ALTO 4.2 and 4.4 XSDs (altoxml/schema, CC BY-SA 4.0) while writing this.
"""

from __future__ import annotations

from lxml import etree

from vlparse import __version__
from vlparse.core.errors import VlparseError
from vlparse.core.results import Block, Document
from vlparse.export.lines import PICTURE_TYPES, block_lines, int_box, layer_word_lines, source_name, xml_text

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_VERSION = "4.4"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
PROCESSING_ID = "vlparse"


def _el(parent, tag: str, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ALTO_NS}}}{tag}")
    for k, v in attrs.items():
        if v is not None:
            el.set(k, str(v))
    return el


def _pos(box) -> dict[str, int]:
    if box is None:
        return {}
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": x1 - x0, "HEIGHT": y1 - y0}


def tag_id(block_type: str) -> str:
    """The LayoutTag ID of a block type (an XML NCName)."""
    return "TYPE_" + "".join(c if c.isalnum() or c in "_-." else "_" for c in block_type)


def _text_block(parent, block: Block, ids: str, box, width: int, height: int, frame=None, words=None) -> None:
    tb = _el(parent, "TextBlock", ID=f"block_{ids}", **_pos(box), TAGREFS=tag_id(block.type))
    word_lines = layer_word_lines(block, frame, words)  # verified against the PDF's text layer: a String per word
    if word_lines:
        for n, (line_box, words) in enumerate(word_lines, 1):
            line = _el(tb, "TextLine", ID=f"line_{ids}_{n}", **_pos(int_box(line_box, width, height)))
            for k, (text, wbox) in enumerate(words, 1):
                if k > 1:
                    _el(line, "SP")
                _el(line, "String", ID=f"string_{ids}_{n}_{k}", CONTENT=text, **_pos(int_box(wbox, width, height)))
        return
    for n, (text, line_box) in enumerate(block_lines(block), 1):
        pos = _pos(int_box(line_box, width, height))
        line = _el(tb, "TextLine", ID=f"line_{ids}_{n}", **pos)
        _el(line, "String", CONTENT=text, **pos)


def _block(parent, block: Block, ids: str, width: int, height: int, frame=None, words=None) -> None:
    box = int_box(block.bbox_px, width, height)
    has_text = bool(block_lines(block))
    if block.type in PICTURE_TYPES:
        if not has_text:
            _el(parent, "Illustration", ID=f"block_{ids}", TYPE=block.type, **_pos(box), TAGREFS=tag_id(block.type))
            return
        group = _el(parent, "ComposedBlock", ID=f"group_{ids}", TYPE=block.type, **_pos(box),
                    TAGREFS=tag_id(block.type))
        _el(group, "Illustration", ID=f"block_{ids}", TYPE=block.type, **_pos(box))
        _text_block(group, block, f"{ids}_text", box, width, height, frame, words)
        return
    if block.type == "table":
        group = _el(parent, "ComposedBlock", ID=f"group_{ids}", TYPE="table", **_pos(box), TAGREFS=tag_id("table"))
        _text_block(group, block, ids, box, width, height, frame, words)
        return
    _text_block(parent, block, ids, box, width, height, frame, words)


def _description(root, doc: Document) -> None:
    desc = _el(root, "Description")
    _el(desc, "MeasurementUnit").text = "pixel"
    info = _el(desc, "sourceImageInformation")
    _el(info, "fileName").text = xml_text(source_name(doc.source))
    proc = _el(desc, "Processing", ID=PROCESSING_ID)
    _el(proc, "processingCategory").text = "contentGeneration"
    _el(proc, "processingStepDescription").text = (
        "document parsing with a Qwen vision-language model (QwenVL HTML); block and line boxes as the "
        "model gave them, mapped to the page image's pixels; one String per TextLine (no word boxes)")
    settings = "; ".join(f"{k}={xml_text(v)}" for k, v in (("family", doc.family), ("model", doc.model)) if v)
    if settings:
        _el(proc, "processingStepSettings").text = settings
    sw = _el(proc, "processingSoftware")
    _el(sw, "softwareName").text = "vlparse"
    _el(sw, "softwareVersion").text = __version__
    if doc.model:
        _el(sw, "applicationDescription").text = xml_text(f"model: {doc.model}")


def render_alto(doc: Document, layers: dict | None = None) -> str:
    """The document as one ALTO 4 file (UTF-8)."""
    if not doc.pages:  # ALTO's Layout needs at least one Page
        raise VlparseError(f"{doc.source}: no parsed page to write as ALTO")
    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap={None: ALTO_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    root.set("SCHEMAVERSION", SCHEMA_VERSION)
    _description(root, doc)
    types = list(dict.fromkeys(b.type for p in doc.pages for b in p.blocks))
    if types:
        tags = _el(root, "Tags")
        for t in types:
            _el(tags, "LayoutTag", ID=tag_id(t), LABEL=xml_text(t))
    layout = _el(root, "Layout")
    for page in doc.pages:
        info = page.info
        w, h = info.width_px, info.height_px
        el = _el(layout, "Page", ID=f"page_{info.page}", PHYSICAL_IMG_NR=info.page, WIDTH=w, HEIGHT=h,
                 PROCESSINGREFS=PROCESSING_ID)
        space = _el(el, "PrintSpace", HPOS=0, VPOS=0, WIDTH=w, HEIGHT=h)
        for i, block in enumerate(page.blocks, 1):
            _block(space, block, f"{info.page}_{i}", w, h, info.frame, (layers or {}).get(info.page))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True).decode("utf-8")

