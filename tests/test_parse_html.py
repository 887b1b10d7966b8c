"""QwenVL HTML answers -> blocks: types, texts, exact boxes, and every repair the parser makes.

The answers under tests/data/doc/ are written in the shape the models produce (the Qwen2.5-VL
cookbook's recorded answer and the technical report's template): a ```html fence around
``<html><body>…</body></html>``, one ``data-bbox="x1 y1 x2 y2"`` per block.

Frames (chosen so that every expected value is easy to compute by hand):
- Qwen2.5-VL: original 1512x2800 px, model image 1008x1400 -> px = (x*1.5, y*2);
  points per pixel 0.5 (x) and 0.25 (y) -> pt = (x*0.75, y*0.5).
- Qwen3-VL: original 2000x3000 px, 0..1000 coordinates -> px = (x*2, y*3);
  points per pixel 0.36 and 0.24 -> pt = (x*0.72, y*0.72).
"""

from pathlib import Path

import pytest

from vlparse.core.families import get_family
from vlparse.core.geometry import Frame
from vlparse.core.results import FAILED, OK, REPAIRED, REPETITION, TRUNCATED, PageInfo
from vlparse.parse import schema
from vlparse.parse.html import (
    check_structure,
    element_text,
    parse_bbox,
    parse_page_html,
    table_width,
)

DATA = Path(__file__).parent / "data" / "doc"
Q25 = get_family("qwen2.5-vl")
Q3 = get_family("qwen3-vl")
FRAME25 = Frame(1512, 2800, 1008, 1400, 0.5, 0.25)
FRAME3 = Frame(2000, 3000, 1024, 1536, 0.36, 0.24)


def parse(name_or_text: str, family=Q25, frame=FRAME25):
    path = DATA / name_or_text
    text = path.read_text(encoding="utf-8") if name_or_text.endswith(".html") else name_or_text
    return parse_page_html(text, family, PageInfo("doc.pdf", 1, frame, kind="pdf"))


def kinds(page):
    return [(b.type, b.text) for b in page.blocks]


def test_schema_lists_the_agreed_types_and_maps_cookbook_classes():
    agreed = {"heading", "paragraph", "list", "list_item", "table", "figure", "caption", "chart", "formula",
              "chemical_formula", "music_sheet", "code", "header", "footer", "page_number", "footnote", "quote",
              "other"}
    assert agreed <= set(schema.BLOCK_TYPES)
    assert set(schema.TAG_TYPES.values()) | set(schema.CLASS_TYPES.values()) <= set(schema.BLOCK_TYPES)
    cases = {("div", "image"): "figure", ("div", "image caption"): "figure", ("div", "image ocr"): "figure",
             ("div", "chart"): "chart", ("div", "formula"): "formula", ("div", "formula.machine_printed"): "formula",
             ("div", "music sheet"): "music_sheet", ("div", "chemical formula"): "chemical_formula",
             ("table", "table3"): "table", ("h3", None): "heading", ("p", None): "paragraph",
             ("p", "caption"): "caption", ("div", "page-number"): "page_number", ("footer", None): "footer",
             ("blink", None): "other"}
    for (tag, cls), want in cases.items():
        assert schema.classify(tag, cls) == want, (tag, cls)


def test_clean_page_blocks_types_texts_and_boxes():
    page = parse("q25_clean.html")
    assert page.status == OK and page.warnings == []
    assert kinds(page) == [
        ("heading", "Annual Report 2024"),
        ("paragraph", "Revenue grew by 12% while costs stayed flat."),
        ("list", "First item\nSecond item"),
        ("figure", ""),
        ("caption", "Figure 1: Revenue by quarter."),
        ("paragraph", "7"),
    ]
    h, p, lst, fig, cap, num = page.blocks
    assert h.attrs == {"level": 1}
    # data-bbox="100 50 500 90" -> px (x*1.5, y*2), pt (x*0.75, y*0.5)
    assert h.bbox_px == [150, 100, 750, 180] and h.bbox_pt == [75, 25, 375, 45]
    assert p.bbox_px == [150, 200, 1350, 400] and p.bbox_pt == [75, 50, 675, 100]
    assert lst.attrs["ordered"] is False
    assert [i["text"] for i in lst.attrs["items"]] == ["First item", "Second item"]
    assert lst.attrs["items"][1]["bbox_px"] == [165, 510, 1335, 600]
    assert lst.attrs["items"][1]["bbox_pt"] == [82.5, 127.5, 667.5, 150]
    assert fig.bbox_px == [300, 640, 1200, 1400] and fig.bbox_pt == [150, 160, 600, 350]
    assert cap.attrs["of"] == 3 and cap.bbox_px == [300, 1420, 1200, 1480]
    assert num.bbox_px == [720, 2700, 795, 2760]
    # the fragment carries its boxes in original page pixels, nothing else from the answer
    assert h.html == '<h1 data-bbox="150 100 750 180">Annual Report 2024</h1>'
    assert fig.html == '<div class="image" data-bbox="300 640 1200 1400"><img data-bbox="300 640 1200 1400"></div>'


def test_qwen3_answer_in_0_1000_coordinates():
    page = parse("q3_rel1000.html", Q3, FRAME3)
    assert page.status == OK, page.warnings
    assert [b.type for b in page.blocks] == ["heading", "paragraph", "chart", "caption", "figure"]
    h, p, chart, cap, fig = page.blocks
    assert p.bbox_px == [200, 300, 1800, 600] and p.bbox_pt == [72, 72, 648, 144]
    assert h.bbox_px == [200, 150, 1000, 270] and h.bbox_pt == [72, 36, 360, 64.8]
    assert chart.bbox_px == [200, 750, 1800, 1800] and chart.bbox_pt == [72, 180, 648, 432]
    assert [[c["text"] for c in r] for r in chart.attrs["rows"]] == [["Quarter", "Sales"], ["Q1", "10"]]
    assert cap.text == "Figure 2: Sales by quarter." and cap.attrs["of"] == 2
    assert fig.attrs["caption"] == "A photo of the head office." and fig.bbox_px == [200, 2100, 1000, 2850]


def test_qwen3_boxes_in_pixels_are_flagged():
    page = parse('<p data-bbox="100 200 1500 2600">Pixels, not 0..1000.</p>', Q3, FRAME3)
    assert page.status == REPAIRED
    assert any("0..1000" in w and "look like pixels" in w for w in page.warnings)
    assert page.blocks[0].bbox_px == [200, 600, 2000, 3000]  # clipped to the page, and warned
    assert any("clipped box" in w for w in page.warnings)


def test_qwen25_answer_that_looks_relative_is_flagged():
    frame = Frame(1232, 1764, 1232, 1764, None, None)
    answer = ('<h1 data-bbox="80 40 600 80">Title</h1><p data-bbox="80 100 920 400">Body</p>'
              '<p data-bbox="80 420 920 960">More body</p>')
    page = parse(answer, Q25, frame)
    assert page.status == REPAIRED
    assert any("looks like 0..1000 relative coordinates" in w for w in page.warnings)
    # an honest absolute answer on the same page is not flagged
    honest = parse(answer.replace("960", "1700"), Q25, frame)
    assert honest.status == OK, honest.warnings


def test_truncated_table_is_marked_and_kept():
    page = parse("q25_truncated.html")
    assert page.status == TRUNCATED
    assert any("truncated" in w and "<table>" in w for w in page.warnings)
    assert [b.type for b in page.blocks] == ["heading", "table"]
    table = page.blocks[-1]
    assert [[c["text"] for c in r] for r in table.attrs["rows"]] == [["Year", "Revenue"], ["2023", "1.2"],
                                                                     ["2024", "1."]]
    assert table.attrs["incomplete"] is True
    assert "incomplete" not in page.blocks[0].attrs


def test_answer_cut_inside_a_tag_drops_the_half_tag():
    page = parse('<html><body><h1 data-bbox="1 2 300 40">Title</h1> <p data-bbox="100 500 9')
    assert page.status == TRUNCATED
    assert any("ends inside a tag" in w for w in page.warnings)
    assert kinds(page) == [("heading", "Title")]


def test_unclosed_document_is_truncated_but_blocks_are_complete():
    page = parse('<html><body><p data-bbox="1 2 300 40">Done.</p>')
    assert page.status == TRUNCATED
    assert "incomplete" not in page.blocks[0].attrs


def test_looping_table_rows_are_cut_to_one_copy():
    page = parse("q25_loop_rows.html")
    assert page.status == REPETITION
    assert any(w.startswith("repetition loop cut:") for w in page.warnings)
    table = page.blocks[-1]
    assert [[c["text"] for c in r] for r in table.attrs["rows"]] == [["Item", "Count", "Note"], ["n/a"] * 3]
    assert table.attrs["incomplete"] is True


def test_counting_loop_written_on_one_line_is_cut():
    rows = "".join(f"<tr><td>{i}</td><td>spare part {i}</td></tr>" for i in range(1, 80))
    answer = f'<html><body><table data-bbox="1 1 500 900"><tr><th>No</th><th>Part</th></tr>{rows}<tr><td>8'
    page = parse(answer)
    assert page.status == REPETITION
    assert [[c["text"] for c in r] for r in page.blocks[0].attrs["rows"]] == [["No", "Part"], ["1", "spare part 1"]]
    # a real table whose cells differ is never cut
    animals = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"]
    real = "".join(f"<tr><td>{i}</td><td>{w}</td></tr>" for i, w in enumerate(animals))
    page = parse(f'<table data-bbox="1 1 500 900">{real}</table>')
    assert page.status == OK and page.blocks[0].attrs["n_rows"] == 8


def test_looping_paragraph_is_cut_to_one_copy():
    page = parse("q25_loop_paragraph.html")
    assert page.status == REPETITION
    assert kinds(page) == [
        ("heading", "Minutes"),
        ("paragraph", "The meeting opened at nine."),
        ("paragraph", "The committee will meet again next year to review the results."),
    ]
    assert page.blocks[-1].bbox_px == [150, 600, 1350, 800]


def test_a_block_repeated_then_recovered_is_deduplicated():
    para = '<p data-bbox="10 10 500 40">Same line.</p>'
    page = parse(f"<html><body>{para * 3}<p data-bbox='10 50 500 80'>Next.</p></body></html>")
    assert page.status == REPAIRED
    assert kinds(page) == [("paragraph", "Same line."), ("paragraph", "Next.")]
    assert any("dropped 2 repeated copies" in w for w in page.warnings)


def test_boxes_out_of_range_are_clipped_swapped_or_dropped_with_a_warning_each():
    page = parse("q25_out_of_range.html")
    assert page.status == REPAIRED
    boxes = {b.text: b.bbox_px for b in page.blocks}
    assert boxes == {
        "Inside.": [150, 100, 750, 180],
        "Runs off the right edge.": [1350, 200, 1512, 400],  # 1100*1.5 = 1650 clipped to 1512
        "Swapped corners.": [150, 500, 750, 600],
        "Zero width.": None,
        "Malformed.": None,
        "Below the page.": [0, 2760, 300, 2800],
    }
    pts = {b.text: b.bbox_pt for b in page.blocks}
    assert pts["Runs off the right edge."] == [675, 50, 756, 100]
    w = "\n".join(page.warnings)
    assert "outside the 1008x1400 image the model saw" in w
    assert "block 2 (<p>, paragraph): clipped box [1350, 200, 1650, 400]" in w
    assert "block 3 (<p>, paragraph): swapped corners" in w
    assert "block 4 (<p>, paragraph): dropped degenerate box" in w
    assert "block 5 (<p>, paragraph) has a malformed data-bbox '10 20 thirty 40'" in w


def test_table_with_rowspan_and_colspan_keeps_its_cells():
    page = parse("q25_table_spans.html")
    assert page.status == OK, page.warnings
    (table,) = page.blocks
    assert table.type == "table" and table.bbox_px == [150, 200, 1350, 800]
    rows = table.attrs["rows"]
    assert [[(c["text"], c["rowspan"], c["colspan"], c["header"]) for c in r] for r in rows] == [
        [("Region", 2, 1, True), ("Revenue", 1, 2, True)],
        [("2023", 1, 1, True), ("2024", 1, 1, True)],
        [("North", 1, 1, False), ("1.0", 1, 1, False), ("1.5", 1, 1, False)],
        [("South", 1, 1, False), ("n/a", 1, 2, False)],
    ]
    assert table.attrs["n_rows"] == 4 and table.attrs["n_cols"] == 3
    assert 'rowspan="2"' in table.html and 'colspan="2"' in table.html and "<style" not in table.html


def test_table_width_counts_cells_spanning_down():
    rows = [[{"rowspan": 3}, {}], [{}], [{"colspan": 2}]]
    assert table_width(rows) == 3


def test_formula_chemistry_music_and_code():
    page = parse("q25_formula.html")
    assert page.status == OK, page.warnings
    types = [b.type for b in page.blocks]
    assert types == ["paragraph", "formula", "formula", "chemical_formula", "music_sheet", "code"]
    _, f1, f2, chem, music, code = page.blocks
    assert f1.attrs == {"latex": r"E = mc^2 \quad x < y"} and f1.text == r"E = mc^2 \quad x < y"
    assert f1.bbox_px == [450, 200, 1050, 320] and f1.bbox_pt == [225, 50, 525, 80]
    assert f2.attrs == {"latex": r"\frac{a}{b}", "handwritten": True}
    assert chem.attrs == {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}
    assert music.attrs == {"abc": "X:1\nT:Scale\nK:C\nCDEF GABc|"}
    assert code.attrs == {"language": "python"} and code.text == "def f(x):\n    return x * 2"


def test_missing_boxes_are_kept_with_a_warning():
    page = parse("q25_missing_bbox.html")
    assert page.status == REPAIRED
    assert [(b.type, b.text, b.bbox_px) for b in page.blocks] == [
        ("heading", "Untitled section", None),
        ("paragraph", "Boxed paragraph.", [150, 200, 1350, 400]),
        ("paragraph", "Loose text between blocks.", None),
        ("paragraph", "Unboxed paragraph.", None),
    ]
    w = "\n".join(page.warnings)
    assert "block 1 (<h2>, heading) has no data-bbox" in w
    assert "text outside any element" in w and "block 4 (<p>, paragraph) has no data-bbox" in w


def test_hostile_markup_is_reported_and_never_kept():
    page = parse("q25_hostile.html")
    assert page.status == REPAIRED
    assert [b.type for b in page.blocks] == ["heading", "paragraph", "figure", "table", "paragraph", "paragraph"]
    assert page.blocks[4].text == "<script>alert(6)</script>"  # text the page shows, kept as text
    joined = "\n".join(b.html for b in page.blocks).lower()
    for bad in ("<script", "onclick", "onerror", "onmouseover", "javascript:", "evil.example", "<iframe", "style=",
                "src=", "href=", "data:image"):
        assert bad not in joined, bad
    w = "\n".join(page.warnings)
    assert "removed a <script> element" in w and "removed a <iframe> element" in w
    assert "removed a <embed> element" in w and "event-handler attribute" in w


def test_chatter_around_the_html_is_dropped_with_a_warning():
    page = parse('Sure! Here it is: <html><body><p data-bbox="1 1 100 20">Hi</p></body></html> Hope this helps.')
    assert kinds(page) == [("paragraph", "Hi")]
    assert page.status == REPAIRED
    assert any("dropped text before the HTML" in w for w in page.warnings)
    assert any("dropped text after the HTML" in w for w in page.warnings)
    fenced = parse('Here is the page:\n```html\n<p data-bbox="1 1 100 20">Hi</p>\n```\nAnything else?')
    assert fenced.status == OK and kinds(fenced) == [("paragraph", "Hi")]


@pytest.mark.parametrize("answer, why", [
    ("", "the answer is empty"),
    ("   \n", "the answer is empty"),
    ("<html><body></body></html>", "no blocks found"),
    ("<html><body><script>alert(1)</script></body></html>", "no blocks found"),
    ("<div></div><p data-bbox=\"1 1 5 5\"> </p></div>", "no blocks found"),
])
def test_unusable_answers_fail_with_a_reason_and_never_raise(answer, why):
    page = parse(answer)
    assert page.status == FAILED and page.blocks == []
    assert why in page.error and page.error in page.warnings


def test_an_answer_without_tags_is_kept_as_unboxed_paragraphs():
    page = parse("I cannot read this image.\n\nIt is   too blurry.")
    assert page.status == REPAIRED
    assert [(b.type, b.text, b.bbox_px) for b in page.blocks] == [
        ("paragraph", "I cannot read this image.", None), ("paragraph", "It is too blurry.", None)]
    assert page.warnings == ["the answer is not QwenVL HTML (no tags): kept it as 2 paragraph(s) without boxes"]


def test_garbage_never_raises():
    for answer in ("<p data-bbox='nan nan nan nan'>x</p>", "<p data-bbox='1e400 0 5 5'>x</p>",
                   "<table><tr><td rowspan='-3' colspan='zz'>x</td></tr></table>", "<?xml version='1.0'?><p>x</p>",
                   "\x00<p>\x00</p>", "<<<>>></p></div><", "<" * 5000, "<div>" * 3000 + "deep"):
        page = parse(answer)
        assert page.status in (OK, REPAIRED, TRUNCATED, FAILED)
        # a parser bug caught by parse_page_html's blanket except would also give FAILED: not that
        assert not any("could not parse the answer" in w for w in page.warnings), (answer[:40], page.warnings)


def test_unclosed_inline_tags_are_repaired_and_warned():
    page = parse('<p data-bbox="1 1 100 20">bold <b>start</p><p data-bbox="1 30 100 50">next</p></i>')
    assert kinds(page) == [("paragraph", "bold start"), ("paragraph", "next")]
    assert page.status == REPAIRED
    assert any("closed an unclosed <b>" in w for w in page.warnings)
    assert any("stray </i>" in w for w in page.warnings)


def test_groups_headers_lists_and_line_boxes():
    answer = ('<header><p data-bbox="10 5 400 20">ACME Corp · Annual report</p></header>'
              '<div><p data-bbox="10 30 400 60">Inside a plain div.</p></div>'
              '<ol><li data-bbox="10 70 400 90">One</li><li data-bbox="10 95 400 115">Two</li></ol>'
              '<p data-bbox="10 120 400 160"><span data-bbox="10 120 400 140">line one</span><br>'
              '<span data-bbox="10 140 300 160">line two</span></p>'
              '<footer data-bbox="10 1380 400 1395">Page 3 of 9</footer>')
    page = parse(answer)
    assert [(b.type, b.text) for b in page.blocks] == [
        ("header", "ACME Corp · Annual report"),
        ("paragraph", "Inside a plain div."),
        ("list_item", "One"),
        ("list_item", "Two"),
        ("paragraph", "line one\nline two"),
        ("footer", "Page 3 of 9"),
    ]
    assert page.blocks[3].attrs == {"ordered": True, "index": 2}
    lines = page.blocks[4].attrs["lines"]
    assert [ln["text"] for ln in lines] == ["line one", "line two"]
    assert lines[1]["bbox_px"] == [15, 280, 450, 320] and lines[1]["bbox_pt"] == [7.5, 70, 225, 80]


def test_images_without_pdf_points_have_no_bbox_pt():
    page = parse('<p data-bbox="10 10 100 30">x</p>', Q25, Frame(1512, 2800, 1008, 1400))
    assert page.blocks[0].bbox_px == [15, 20, 150, 60] and page.blocks[0].bbox_pt is None


def test_helpers():
    assert parse_bbox("1 2 3 4") == [1, 2, 3, 4]
    assert parse_bbox("[1, 2, 3.5, 4]") == [1, 2, 3.5, 4]
    assert parse_bbox("1 2 3") is None and parse_bbox(None) is None
    assert check_structure("<p>a</p>").truncated is None
    assert "ends inside <div>" in check_structure("<div><p>a</p>").truncated
    import lxml.html

    el = lxml.html.fromstring("<p>a  b<br>c\n d</p>")
    assert element_text(el) == "a b\nc d"
