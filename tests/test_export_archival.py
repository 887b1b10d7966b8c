"""hOCR, ALTO and the searchable PDF, checked the way their consumers read them.

hOCR and ALTO: parsed with lxml; every block must come back with its coordinates and text.
Searchable PDF: PyMuPDF must find a parsed word inside its block's rectangle (normal, rotated and
cropped pages), the pages must render exactly as before, and the input must stay untouched.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pymupdf
import pytest
from lxml import etree, html
from pdfs import WORDS, make_pdf, word_rect_displayed
from PIL import Image, ImageDraw

from vlparse.core.errors import InputError, UsageError
from vlparse.export.alto import ALTO_NS, render_alto, tag_id
from vlparse.export.hocr import CAPABILITIES, FLOAT_CLASS, render_hocr
from vlparse.export.lines import int_box
from vlparse.export.searchable_pdf import spread, write_searchable_pdf
from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Budget, Frame
from vlparse.core.results import FAILED, Block, Document, PageInfo, PageResult
from vlparse.pages.render import open_source

XHTML = "{http://www.w3.org/1999/xhtml}"
A = f"{{{ALTO_NS}}}"


# --------------------------------------------------------------------------- a parsed document


def _blocks() -> list[Block]:
    return [
        Block("heading", "Annual <Report> & \"Outlook\"", "<h1>Annual</h1>", [100.4, 40.6, 700.2, 90.1], None,
              {"level": 2}),
        Block("paragraph", "First line of text\nsecond line", "<p>…</p>", [100, 120, 900, 200], None,
              {"lines": [{"text": "First line of text", "bbox_px": [100, 120, 880, 155]},
                         {"text": "second line", "bbox_px": [100, 162, 500, 200]}]}),
        Block("list", "one\ntwo", "<ul>…</ul>", [100, 210, 500, 270], None,
              {"ordered": False, "items": [{"text": "one", "bbox_px": [120, 210, 300, 238]},
                                           {"text": "two", "bbox_px": [120, 242, 300, 270]}]}),
        Block("figure", "", "<div class='image'></div>", [100, 300, 900, 700]),
        Block("chart", "Sales 2023 2024", "", [100, 720, 900, 900]),
        Block("table", "Year Sales\n2023 10", "<table>…</table>", [100, 920, 900, 1100], None,
              {"rows": [[{"text": "Year"}, {"text": "Sales"}], [{"text": "2023"}, {"text": "10"}]]}),
        Block("caption", "Table 1: <script>alert(1)</script> sales\x00\x0b", "", [100, 1110, 900, 1140]),
        Block("formula", "E = mc^2", "", [300, 1150, 700, 1200], None, {"latex": "E = mc^2"}),
        Block("other", "a block the model gave no box"),
        Block("page_number", "7", "", [490, 1350, 510, 1380]),
    ]


def _doc() -> Document:
    frame = Frame(1000, 1400, 1008, 1400, 0.595, 0.6014)
    p1 = PageResult(PageInfo("in dir/report.pdf", 1, frame, kind="pdf", width_pt=595, height_pt=842),
                    blocks=_blocks(), warnings=["clipped box [1 2 3 4]"], status="repaired")
    p2 = PageResult(PageInfo("in dir/report.pdf", 2, frame, kind="pdf", width_pt=595, height_pt=842), status=FAILED,
                    error="no answer")
    return Document("in dir/report.pdf", "qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", [p1, p2])


def _expected_lines(block: Block):
    """(text, int box) of each line the exports must carry for ``block``."""
    for key in ("lines", "items"):
        if block.attrs.get(key):
            return [(p["text"], int_box(p["bbox_px"], 1000, 1400)) for p in block.attrs[key]]
    text = " ".join(block.text.replace("\x00", "").replace("\x0b", "").split())
    return [(text, int_box(block.bbox_px, 1000, 1400))] if text else []


def _hocr_props(el) -> dict[str, str]:
    pairs = (p.strip().split(None, 1) for p in el.get("title", "").split(";") if p.strip())
    return {k: v for k, v in pairs}


def _bbox(el):
    props = _hocr_props(el)
    return tuple(int(v) for v in props["bbox"].split()) if "bbox" in props else None


# --------------------------------------------------------------------------- hOCR


def test_hocr_carries_every_block_with_its_box_and_lines():
    doc = _doc()
    root = etree.fromstring(render_hocr(doc).encode("utf-8"))  # well-formed XHTML
    meta = {m.get("name"): m.get("content") for m in root.iter(f"{XHTML}meta") if m.get("name")}
    assert meta["ocr-system"].startswith("vlparse ")
    caps = set(meta["ocr-capabilities"].split())
    assert caps == set(CAPABILITIES)
    pages = root.findall(f".//{XHTML}div[@class='ocr_page']")
    assert len(pages) == 2
    props = _hocr_props(pages[0])
    assert props["bbox"] == "0 0 1000 1400" and props["ppageno"] == "0"
    assert props["x_source"] == '"in dir/report.pdf" 1'
    assert props["scan_res"] == "121 120"  # 72 / pt_per_px: the pixel space the boxes are in
    assert pages[1].get("data-status") == "failed" and len(pages[1]) == 0

    areas = list(pages[0])
    assert len(areas) == len(doc.pages[0].blocks)  # every block, in reading order
    for el, block in zip(areas, doc.pages[0].blocks, strict=True):
        assert el.get("data-block-type") == block.type
        assert el.get("class") == FLOAT_CLASS.get(block.type, "ocr_carea")
        assert el.get("class") in caps
        assert _bbox(el) == int_box(block.bbox_px, 1000, 1400)
        lines = el.findall(f".//{XHTML}span[@class='ocr_line']")
        assert [("".join(ln.itertext()), _bbox(ln)) for ln in lines] == _expected_lines(block)
    assert areas[0].find(f"{XHTML}h2").get("class") == "ocr_par"  # heading level kept as HTML
    assert _bbox(areas[0]) == (100, 40, 701, 91)  # outward to whole pixels
    assert areas[-2].get("title") is None  # no box: no invented bbox
    # hostile text is text: no element came out of it, control characters are gone
    assert not root.findall(f".//{XHTML}script")
    assert "<script>alert(1)</script> sales" in "".join(areas[6].itertext())


def test_hocr_reads_the_same_with_an_html_parser():
    """hocr-tools and most consumers parse hOCR as HTML: no <div/> may swallow its siblings."""
    doc = _doc()
    tree = html.fromstring(render_hocr(doc).encode("utf-8"))
    page = tree.xpath("//*[@class='ocr_page']")[0]
    assert len(page.xpath("./*")) == len(doc.pages[0].blocks)
    assert len(tree.xpath("//*[@class='ocr_line']")) == sum(len(_expected_lines(b)) for b in doc.pages[0].blocks)
    for line in tree.xpath("//*[@class='ocr_line']"):
        assert line.xpath("./ancestor::*[@class='ocr_page']")  # hocr-check's containment rule


def test_hocr_image_pages_name_their_image():
    info = PageInfo("scans/page 1.png", 1, Frame(800, 600, 812, 588), kind="image")
    page_result = PageResult(info, blocks=[Block("paragraph", "x", "", [1, 2, 3, 4])])
    doc = Document("scans/page 1.png", "qwen3-vl", "m", [page_result])
    page = etree.fromstring(render_hocr(doc).encode()).find(f".//{XHTML}div[@class='ocr_page']")
    props = _hocr_props(page)
    assert props["image"] == '"scans/page 1.png"' and props["bbox"] == "0 0 800 600" and "scan_res" not in props


# --------------------------------------------------------------------------- ALTO

# The parts of the ALTO 4 schema this exporter uses: element -> allowed children in order (a
# child may repeat), required attributes. Mirrors alto-4-4.xsd; see test_alto_validates_against_the_xsd.
ALTO_CHILDREN = {
    "alto": ["Description", "Tags", "Layout"],
    "Description": ["MeasurementUnit", "sourceImageInformation", "Processing"],
    "Processing": ["processingCategory", "processingStepDescription", "processingStepSettings",
                   "processingSoftware"],
    "processingSoftware": ["softwareName", "softwareVersion", "applicationDescription"],
    "sourceImageInformation": ["fileName"],
    "Tags": ["LayoutTag"],
    "Layout": ["Page"],
    "Page": ["PrintSpace"],
    "TextBlock": ["TextLine"],
    "TextLine": ["String"],
}
BLOCKS = {"TextBlock", "Illustration", "ComposedBlock"}
REQUIRED = {"Page": {"ID", "PHYSICAL_IMG_NR"}, "String": {"CONTENT"}, "LayoutTag": {"ID", "LABEL"},
            "Processing": {"ID"}, "TextBlock": {"ID"}, "Illustration": {"ID"}, "ComposedBlock": {"ID"}}
NUMERIC = ("HPOS", "VPOS", "WIDTH", "HEIGHT", "PHYSICAL_IMG_NR")


def _check_alto_structure(root) -> None:
    ids = [el.get("ID") for el in root.iter() if el.get("ID")]
    assert len(ids) == len(set(ids)), "IDs must be unique"
    for el in root.iter():
        assert el.tag.startswith(A), el.tag
        name = el.tag[len(A):]
        assert REQUIRED.get(name, set()) <= set(el.attrib), (name, el.attrib)
        for key in NUMERIC:
            if key in el.attrib:
                float(el.get(key))
        for ref in (el.get("TAGREFS") or "").split() + (el.get("PROCESSINGREFS") or "").split():
            assert ref in ids
        kids = [c.tag[len(A):] for c in el]
        if name in ("PrintSpace", "ComposedBlock"):
            assert set(kids) <= BLOCKS, kids
        elif name in ALTO_CHILDREN:
            order = ALTO_CHILDREN[name]
            assert all(k in order for k in kids), (name, kids)
            assert [order.index(k) for k in kids] == sorted(order.index(k) for k in kids), (name, kids)
        elif name in ("String", "Illustration", "LayoutTag"):
            assert not kids
    assert root.find(f"{A}Description/{A}MeasurementUnit").text == "pixel"


def test_alto_carries_every_block_with_its_box_and_lines():
    doc = _doc()
    root = etree.fromstring(render_alto(doc).encode("utf-8"))
    _check_alto_structure(root)
    assert root.get("SCHEMAVERSION").startswith("4.")
    labels = {t.get("ID"): t.get("LABEL") for t in root.iter(f"{A}LayoutTag")}
    pages = root.findall(f"{A}Layout/{A}Page")
    sizes = [(p.get("PHYSICAL_IMG_NR"), p.get("WIDTH"), p.get("HEIGHT")) for p in pages]
    assert sizes == [("1", "1000", "1400"), ("2", "1000", "1400")]
    top = list(pages[0].find(f"{A}PrintSpace"))
    assert len(top) == len(doc.pages[0].blocks)
    for el, block in zip(top, doc.pages[0].blocks, strict=True):
        assert labels[el.get("TAGREFS")] == block.type
        box = int_box(block.bbox_px, 1000, 1400)
        pos = tuple(int(el.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")) if el.get("HPOS") else None
        assert pos == ((box[0], box[1], box[2] - box[0], box[3] - box[1]) if box else None)
        lines = [(ln.find(f"{A}String").get("CONTENT"),
                  (int(ln.get("HPOS")), int(ln.get("VPOS")), int(ln.get("HPOS")) + int(ln.get("WIDTH")),
                   int(ln.get("VPOS")) + int(ln.get("HEIGHT"))) if ln.get("HPOS") else None)
                 for ln in el.iter(f"{A}TextLine")]
        assert lines == _expected_lines(block)
    kinds = [el.tag[len(A):] + ("/" + el.get("TYPE") if el.get("TYPE") else "") for el in top]
    assert kinds[3] == "Illustration/figure"  # a picture without text
    assert kinds[4] == "ComposedBlock/chart" and [c.tag[len(A):] for c in top[4]] == ["Illustration", "TextBlock"]
    assert kinds[5] == "ComposedBlock/table"
    assert kinds[0] == kinds[1] == "TextBlock"
    assert len(pages[1].find(f"{A}PrintSpace")) == 0  # the failed page: present, empty


def test_alto_has_one_tag_per_type_and_says_what_made_it():
    root = etree.fromstring(render_alto(_doc()).encode("utf-8"))
    tags = [t.get("ID") for t in root.iter(f"{A}LayoutTag")]
    assert tags == list(dict.fromkeys(tag_id(b.type) for b in _blocks()))
    sw = root.find(f".//{A}processingSoftware")
    assert sw.find(f"{A}softwareName").text == "vlparse"
    assert "Qwen2.5-VL-7B" in root.find(f".//{A}processingStepSettings").text


@pytest.mark.skipif(not os.environ.get("VLPARSE_ALTO_XSD"), reason="set VLPARSE_ALTO_XSD to an ALTO 4 XSD "
                    "(altoxml/schema, with its xlink import resolvable offline) to validate against the schema")
def test_alto_validates_against_the_xsd():
    schema = etree.XMLSchema(etree.parse(os.environ["VLPARSE_ALTO_XSD"]))
    doc = etree.fromstring(render_alto(_doc()).encode("utf-8"))
    assert schema.validate(doc), schema.error_log


# --------------------------------------------------------------------------- searchable PDF


GEOMETRY = [(0, None), (90, None), (270, (40, 50, 560, 800)), (180, None)]  # (rotation, CropBox) per page
SENTENCE = "the quick brown fox jumps over the lazy dog."


def _upright_pdf(path: Path, geometry) -> Path:
    """A text PDF whose pages read upright on screen, however they are rotated or cropped.

    (PyMuPDF's ``rotate=`` draws text turned with the page, as on a rotated scan or a landscape page.)
    """
    doc = pymupdf.open()
    for n, (rotation, crop) in enumerate(geometry):
        page = doc.new_page(width=595, height=842)
        if crop:
            page.set_cropbox(pymupdf.Rect(crop))
        page.set_rotation(rotation)
        at = page.derotation_matrix  # displayed-page points -> the page's own coordinates
        page.insert_text(pymupdf.Point(72, 100) * at, WORDS[n], fontsize=24, rotate=rotation)
        page.insert_text(pymupdf.Point(72, 160) * at, f"Page {n + 1}: {SENTENCE}", fontsize=11, rotate=rotation)
    doc.save(str(path))
    return path


def _scan_of(text_pdf: Path, out: Path) -> Path:
    """An image-only copy of ``text_pdf`` (a scan: no text at all) with the same boxes and rotation."""
    src = pymupdf.open(str(text_pdf))
    scan = pymupdf.open()
    for page in src:
        crop, rotation = pymupdf.Rect(page.cropbox), page.rotation
        page.set_rotation(0)
        page.set_cropbox(page.mediabox)
        pix = page.get_pixmap(dpi=150)  # the whole unrotated page
        new = scan.new_page(width=page.mediabox.width, height=page.mediabox.height)
        new.insert_image(new.rect, pixmap=pix)
        new.set_cropbox(crop)
        new.set_rotation(rotation)
    scan.save(str(out))
    return out


def _parsed(path: Path, blocks_for, password: str | None = None) -> Document:
    """A Document with the real render geometry (Qwen2.5-VL native size) and blocks from ``blocks_for``."""
    pages = []
    with open_source(str(path), password=password) as src:
        for n in range(1, src.page_count + 1):
            info = src.page(n, QWEN2_5_VL, Budget(3136, 1_003_520)).info
            pages.append(PageResult(info, blocks=blocks_for(n, info)))
    return Document(str(path), QWEN2_5_VL.name, "test", pages)


def _px(rect_pt, info: PageInfo) -> list[float]:
    f = info.frame
    x0, y0, x1, y1 = rect_pt
    return [x0 / f.pt_per_px_x, y0 / f.pt_per_px_y, x1 / f.pt_per_px_x, y1 / f.pt_per_px_y]


def _pt(block: Block, info: PageInfo) -> pymupdf.Rect:
    return pymupdf.Rect(block.bbox_px) * pymupdf.Matrix(info.frame.pt_per_px_x, info.frame.pt_per_px_y)


def _hits(page, word: str) -> list[pymupdf.Rect]:
    """Where PyMuPDF finds ``word``, in displayed-page points (top-left origin)."""
    out = []
    for r in page.search_for(word):
        d = r * page.rotation_matrix
        d.normalize()
        out.append(d)
    return out


def _inside(hit: pymupdf.Rect, rect, tol: float = 0.75) -> bool:
    return pymupdf.Rect(rect[0] - tol, rect[1] - tol, rect[2] + tol, rect[3] + tol).contains(hit)


@pytest.fixture
def scan(tmp_path):
    """A 4-page scanned PDF (normal; rotated 90°; cropped and rotated 270°; upside down, 180°) and where its
    words are."""
    text = _upright_pdf(tmp_path / "text.pdf", GEOMETRY)
    where = {n: (word_rect_displayed(text, n, WORDS[n - 1]), word_rect_displayed(text, n, f"Page {n}: {SENTENCE}"))
             for n in range(1, len(GEOMETRY) + 1)}
    assert all(pymupdf.Rect(w).width > pymupdf.Rect(w).height for w, _ in where.values())  # upright on screen
    pdf = _scan_of(text, tmp_path / "scan.pdf")
    with pymupdf.open(str(pdf)) as d:
        assert [(p.rotation, p.get_text().strip()) for p in d] == [(0, ""), (90, ""), (270, ""), (180, "")]
    return pdf, where


def _blocks_at(where):
    """What the model read on page ``n``: the word and the sentence line, at their positions."""
    def blocks_for(n, info):
        word_rect, line_rect = where[n]
        return [Block("heading", WORDS[n - 1], "", _px(word_rect, info)),
                Block("paragraph", f"Page {n}: {SENTENCE}", "", _px(line_rect, info))]
    return blocks_for


def test_searching_the_pdf_finds_each_parsed_word_inside_its_block(scan, tmp_path):
    pdf, where = scan
    doc = _parsed(pdf, _blocks_at(where))
    out = write_searchable_pdf(doc, str(pdf), str(tmp_path / "out" / "searchable.pdf"))
    result = pymupdf.open(str(out))
    assert [p.rotation for p in result] == [0, 90, 270, 180]
    for page, parsed in zip(result, doc.pages, strict=True):
        heading, para = parsed.blocks
        box = _pt(heading, parsed.info)
        hits = _hits(page, heading.text)
        assert len(hits) == 1 and _inside(hits[0], box), (page.number, hits, box)
        assert hits[0].width > hits[0].height  # reads left to right on screen, rotated pages too
        # the line is fitted to the ink in its box: the hit covers the word the page shows there
        shown = pymupdf.Rect(where[page.number + 1][0])
        assert _inside(hits[0], shown, tol=1) and hits[0].width > 0.9 * shown.width
        assert hits[0].height > 0.45 * shown.height
        line = _hits(page, "brown fox")
        assert len(line) == 1 and _inside(line[0], _pt(para, parsed.info))
    # what a reader copies: the text in reading order
    assert result[2].get_text().split() == [WORDS[2], "Page", "3:", *SENTENCE.split()]


def test_the_pages_look_exactly_as_before_and_the_input_is_untouched(scan, tmp_path):
    pdf, where = scan
    before = hashlib.sha256(pdf.read_bytes()).hexdigest()
    doc = _parsed(pdf, _blocks_at(where))
    out = write_searchable_pdf(doc, str(pdf), str(tmp_path / "searchable.pdf"))
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == before
    with pymupdf.open(str(pdf)) as a, pymupdf.open(str(out)) as b:
        for pa, pb in zip(a, b, strict=True):
            assert (pa.rect, pa.cropbox, pa.rotation) == (pb.rect, pb.cropbox, pb.rotation)
            ra, rb = pa.get_pixmap(dpi=72), pb.get_pixmap(dpi=72)
            assert ra.samples == rb.samples  # pixel-identical: the layer is invisible
            assert pb.get_text().strip()
    with pytest.raises(UsageError, match="overwrite its own input"):
        write_searchable_pdf(doc, str(pdf), str(pdf))
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_pages_that_already_have_text_keep_it_alone(tmp_path):
    pdf = _upright_pdf(tmp_path / "born-digital.pdf", GEOMETRY[:2])
    where = {n: (word_rect_displayed(pdf, n, WORDS[n - 1]), word_rect_displayed(pdf, n, f"Page {n}: {SENTENCE}"))
             for n in (1, 2)}
    doc = _parsed(pdf, _blocks_at(where))
    kept = pymupdf.open(str(write_searchable_pdf(doc, str(pdf), str(tmp_path / "kept.pdf"))))
    assert [len(_hits(p, WORDS[p.number])) for p in kept] == [1, 1]  # no doubled hits, no doubled copy
    forced = pymupdf.open(str(write_searchable_pdf(doc, str(pdf), str(tmp_path / "forced.pdf"),
                                                   skip_text_pages=False)))
    assert [len(_hits(p, WORDS[p.number])) for p in forced] == [2, 2]


def test_running_text_without_line_boxes_is_spread_over_its_block(tmp_path):
    pdf = tmp_path / "blank.pdf"
    d = pymupdf.open()
    d.new_page()
    d.save(str(pdf))
    text = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec"
    doc = _parsed(pdf, lambda n, info: [Block("paragraph", text, "", [100, 100, 500, 220])])
    out = write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"))
    page = pymupdf.open(str(out))[0]
    words = [w[4] for w in page.get_text("words", sort=False)]
    assert words == text.split()  # reading order kept
    lines = {round(w[1]) for w in page.get_text("words")}
    assert len(lines) >= 2  # a long run became several lines inside the box
    box = pymupdf.Rect(doc.pages[0].blocks[0].bbox_px) * pymupdf.Matrix(doc.pages[0].info.frame.pt_per_px_x,
                                                                         doc.pages[0].info.frame.pt_per_px_y)
    assert all(_inside(h, box) for w in ("Alpha", "quebec") for h in _hits(page, w))


def test_running_text_follows_the_lines_printed_on_the_page(tmp_path):
    """A loose paragraph box without line boxes: the words land on the printed lines, not just in the box."""
    lines = ["Amber lanterns glowed along the quiet harbour road",
             "while fishermen mended nets beside weathered boats",
             "and gulls circled slowly above the grey lighthouse"]
    text_pdf = tmp_path / "text.pdf"
    d = pymupdf.open()
    page = d.new_page()
    for i, line in enumerate(lines):
        page.insert_text((72, 200 + 16 * i), line, fontsize=12)
    d.save(str(text_pdf))
    truth = {w: word_rect_displayed(text_pdf, 1, w) for w in ("harbour", "mended", "circled")}
    scan = _scan_of(text_pdf, tmp_path / "scan.pdf")
    doc = _parsed(scan, lambda n, info: [Block("paragraph", " ".join(lines), "", _px((50, 170, 545, 260), info))])
    result = pymupdf.open(str(write_searchable_pdf(doc, str(scan), str(tmp_path / "out.pdf"))))[0]
    for word, rect in truth.items():
        hits = _hits(result, word)
        assert len(hits) == 1, word
        centre = (hits[0].tl + hits[0].br) / 2
        assert rect[1] - 1 < centre.y < rect[3] + 1, (word, hits[0], rect)  # on its own printed line
        assert abs(centre.x - (rect[0] + rect[2]) / 2) < 25, (word, hits[0], rect)  # near where it is printed
    assert result.get_text().split() == " ".join(lines).split()


def test_spread_keeps_explicit_lines_and_estimates_wrapped_ones():
    bands = spread("one\ntwo\n\nthree", (0, 0, 100, 30))
    assert [b.text for b in bands] == ["one", "two", "three"] and bands[2].rect == (0, 20, 100, 30)
    assert len(spread("short", (0, 0, 300, 20))) == 1
    many = spread(" ".join(["word"] * 60), (0, 0, 200, 100))
    assert 3 <= len(many) <= 8 and " ".join(b.text for b in many).split() == ["word"] * 60


def test_scripts_beyond_latin_are_found_where_they_are(tmp_path):
    pdf = tmp_path / "blank.pdf"
    d = pymupdf.open()
    p = d.new_page()
    p.set_rotation(90)
    d.save(str(pdf))
    texts = ["Привет мир", "中文文本测试", "नमस्ते दुनिया", "Ελληνικά κείμενο"]
    doc = _parsed(pdf, lambda n, info: [Block("paragraph", t, "", [60, 60 + 80 * i, 500, 100 + 80 * i])
                                        for i, t in enumerate(texts)])
    out = write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"))
    page = pymupdf.open(str(out))[0]
    f = doc.pages[0].info.frame
    for block in doc.pages[0].blocks:
        box = pymupdf.Rect(block.bbox_px) * pymupdf.Matrix(f.pt_per_px_x, f.pt_per_px_y)
        word = block.text.split()[0]
        hits = _hits(page, word)
        assert hits and all(_inside(h, box) for h in hits), (word, hits, box)


def test_image_inputs_become_a_pdf_at_their_size(tmp_path):
    img = Image.new("RGB", (900, 600), "white")
    ImageDraw.Draw(img).rectangle([100, 100, 500, 160], fill=(20, 20, 20))
    src = tmp_path / "scan.png"
    img.save(src, dpi=(150, 150))
    doc = _parsed(src, lambda n, info: [Block("heading", "Quarterly Revenue", "", [100, 100, 500, 160])])
    out = write_searchable_pdf(doc, str(src), str(tmp_path / "scan.pdf"))
    page = pymupdf.open(str(out))[0]
    assert (round(page.rect.width), round(page.rect.height)) == (432, 288)  # 900 px at 150 dpi = 6 in
    box = pymupdf.Rect(100, 100, 500, 160) * (72 / 150)
    hits = _hits(page, "Revenue")
    assert hits and _inside(hits[0], box)
    shown = page.get_pixmap(dpi=150)
    assert (shown.width, shown.height) == img.size
    rendered = Image.frombytes("RGB", (shown.width, shown.height), shown.samples)
    diff = sum(abs(a - b) for a, b in zip(rendered.tobytes(), img.tobytes(), strict=True)) / (900 * 600 * 3)
    assert diff < 1.0  # the image itself, not a resampled copy


def test_encrypted_inputs_need_their_password_and_stay_encrypted(tmp_path):
    pdf = make_pdf(tmp_path / "secret.pdf", pages=1, encrypt="pw")
    info = PageInfo(str(pdf), 1, Frame(1190, 1684, 1190, 1684, 0.5, 0.5), kind="pdf", width_pt=595, height_pt=842)
    doc = Document(str(pdf), "qwen2.5-vl", "m", [PageResult(info, blocks=[Block("paragraph", "Quokka", "",
                                                                                  [100, 500, 400, 560])])])
    with pytest.raises(InputError, match="password"):
        write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"))
    out = write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"), password="pw", skip_text_pages=False)
    result = pymupdf.open(str(out))
    assert result.needs_pass and result.authenticate("pw")  # never a decrypted copy
    assert _hits(result[0], "Quokka")


def test_a_changed_input_is_refused(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    info = PageInfo(str(pdf), 2, Frame(100, 100, 100, 100, 1, 1), kind="pdf", width_pt=100, height_pt=100)
    doc = Document(str(pdf), "f", "m", [PageResult(info, blocks=[Block("paragraph", "x", "", [1, 1, 50, 20])])])
    with pytest.raises(InputError, match="page 2"):
        write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"))
    info1 = PageInfo(str(pdf), 1, Frame(100, 100, 100, 100, 1, 1), kind="pdf", width_pt=300, height_pt=300)
    doc = Document(str(pdf), "f", "m", [PageResult(info1, blocks=[Block("paragraph", "x", "", [1, 1, 50, 20])])])
    with pytest.raises(InputError, match="changed"):
        write_searchable_pdf(doc, str(pdf), str(tmp_path / "out.pdf"))
    assert not (tmp_path / "out.pdf").exists()
