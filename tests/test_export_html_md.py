"""HTML and Markdown exports of parsed documents: structure, boxes, and nothing hostile."""

import json

import lxml.html
import pytest
from test_parse_html import DATA, FRAME3, FRAME25, Q3, Q25, parse

from vlparse.export.html import render_html
from vlparse.export.markdown import escape_text, render_markdown
from vlparse.core.results import Block, Document, PageInfo, PageResult


def page(name: str, number: int, family=Q25, frame=FRAME25) -> PageResult:
    parsed = parse(name, family, frame)
    info = PageInfo("report.pdf", number, frame, kind="pdf", width_pt=756, height_pt=700)
    return PageResult(info, parsed.status, parsed.warnings, parsed.blocks, raw="", error=parsed.error)


def doc(*pages: PageResult) -> Document:
    return Document("report.pdf", "qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", list(pages))


HOSTILE_MARKERS = ("<script", "onerror", "onclick", "onmouseover", "onload", "javascript:", "<iframe", "<object",
                   "<embed", "<svg", "@import", "evil.example", "<base", "refresh", "<link", "<form", "<input",
                   "data:image", "style=", "src=", "href=", "srcset", "action=")


def test_hostile_answer_leaves_nothing_hostile_in_the_html_export():
    out = render_html(doc(page("q25_hostile.html", 1)))
    low = out.lower()
    for bad in HOSTILE_MARKERS:
        assert bad not in low, bad
    root = lxml.html.document_fromstring(out)
    assert [el.tag for el in root.iter("script", "iframe", "object", "embed", "form", "link", "base")] == []
    assert len(root.findall(".//style")) == 1 and root.find(".//style").getparent().tag == "head"
    for el in root.iter():
        if isinstance(el.tag, str):
            assert not [a for a in el.attrib if a.lower().startswith("on") or a in ("src", "href", "action")]
    # the text the page showed survives as text
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in out and "Pay <a>here</a> or <a>there</a>." in out


def test_hostile_answer_leaves_nothing_hostile_in_the_markdown_export():
    md = render_markdown(doc(page("q25_hostile.html", 1)))
    for bad in ("<script", "javascript:", "evil.example", "<iframe", "onerror", "](http", "<img"):
        assert bad not in md.lower(), bad
    assert "&lt;script>alert(6)&lt;/script>" in md


def test_html_export_is_a_self_contained_document_with_pages_and_boxes():
    out = render_html(doc(page("q25_clean.html", 1), page("q3_rel1000.html", 2, Q3, FRAME3)))
    assert out.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in out and "default-src 'none'" in out
    assert "http:" not in out and "https:" not in out and "//" not in out.replace("<!--", "")
    root = lxml.html.document_fromstring(out)
    sections = root.findall(".//section")
    assert [(s.get("data-page"), s.get("data-status"), s.get("data-width-px")) for s in sections] == [
        ("1", "ok", "1512"), ("2", "ok", "2000")]
    blocks = sections[0].findall("./div[@class='block']")
    assert [(b.get("data-type"), b.get("data-bbox"), b.get("data-bbox-pt")) for b in blocks] == [
        ("heading", "150 100 750 180", "75 25 375 45"),
        ("paragraph", "150 200 1350 400", "75 50 675 100"),
        ("list", "150 420 1350 600", "75 105 675 150"),
        ("figure", "300 640 1200 1400", "150 160 600 350"),
        ("caption", "300 1420 1200 1480", "150 355 600 370"),
        ("paragraph", "720 2700 795 2760", "360 675 397.5 690"),
    ]
    assert blocks[0].find("h1").text == "Annual Report 2024"
    chart = sections[1].find("./div[@data-type='chart']")
    assert chart.get("data-bbox") == "200 750 1800 1800" and chart.find(".//table") is not None


def test_html_export_shows_page_status_and_warnings():
    out = render_html(doc(page("q25_truncated.html", 1), page("q25_missing_bbox.html", 2)))
    root = lxml.html.document_fromstring(out)
    s1, s2 = root.findall(".//section")
    assert s1.get("data-status") == "truncated"
    assert "ends inside <td>" in s1.find(".//details").text_content()
    assert s1.findall("./div")[-1].get("data-incomplete") == "true"
    unboxed = [b for b in s2.findall("./div[@class='block']") if b.get("data-bbox") is None]
    assert [b.text_content() for b in unboxed] == ["Untitled section", "Loose text between blocks.",
                                                   "Unboxed paragraph."]


def test_html_export_sanitises_results_read_back_from_json():
    result = doc(page("q25_clean.html", 1)).to_dict()
    result["pages"][0]["blocks"][1]["html"] = '<p onclick="x()">Hi<script>alert(1)</script><img src=http://e/x></p>'
    result["pages"][0]["blocks"][2]["html"] = ""  # no fragment: rendered from the text, escaped
    result["pages"][0]["blocks"][2]["text"] = "<b>not markup</b>"
    out = render_html(Document.from_dict(json.loads(json.dumps(result))))
    assert "<script" not in out and "onclick" not in out and "http:" not in out
    assert "<p>Hi<img></p>" in out and "&lt;b&gt;not markup&lt;/b&gt;" in out


def test_markdown_of_a_clean_page():
    md = render_markdown(doc(page("q25_clean.html", 1)))
    assert md == (
        "<!-- page 1 -->\n\n"
        "# Annual Report 2024\n\n"
        "Revenue grew by 12% while costs stayed flat.\n\n"
        "- First item\n- Second item\n\n"
        "![Figure 1: Revenue by quarter.](#page=1&bbox_px=300,640,1200,1400)\n\n"
        "Figure 1: Revenue by quarter.\n\n"
        "7\n"
    )


def test_markdown_tables_formulas_code_and_page_separators():
    md = render_markdown(doc(page("q25_truncated.html", 1), page("q25_table_spans.html", 2),
                             page("q25_formula.html", 3), page("q3_rel1000.html", 4, Q3, FRAME3)))
    pages = md.split("\n\n---\n\n")
    assert len(pages) == 4
    # a plain table is a GFM table
    assert pages[0] == ("<!-- page 1: truncated -->\n\n## Results\n\n"
                        "| Year | Revenue |\n| --- | --- |\n| 2023 | 1.2 |\n| 2024 | 1. |")
    # spanning cells keep their structure as (sanitised) HTML
    assert pages[1].startswith("<!-- page 2 -->\n\n<table")
    assert '<th rowspan="2">Region</th><th colspan="2">Revenue</th>' in pages[1] and "<style" not in pages[1]
    assert pages[2] == (
        "<!-- page 3 -->\n\nThe energy is given by\n\n"
        "$$\nE = mc^2 \\quad x \\lt y\n$$\n\n"
        "$$\n\\frac{a}{b}\n$$\n\n"
        "```smiles\nCC(=O)Oc1ccccc1C(=O)O\n```\n\n"
        "```abc\nX:1\nT:Scale\nK:C\nCDEF GABc|\n```\n\n"
        "```python\ndef f(x):\n    return x * 2\n```"
    )
    assert pages[3] == (
        "<!-- page 4 -->\n\n# Quarterly Summary\n\nSales rose in every region.\n\n"
        "![Figure 2: Sales by quarter.](#page=4&bbox_px=200,750,1800,1800)\n\n"
        "| Quarter | Sales |\n| --- | --- |\n| Q1 | 10 |\n\n"
        "Figure 2: Sales by quarter.\n\n"
        "![A photo of the head office.](#page=4&bbox_px=200,2100,1000,2850)\n"
    )


def test_markdown_lists_headers_footers_and_failed_pages():
    info = PageInfo("x.png", 1, FRAME25)
    blocks = [Block("header", "ACME -- Annual report"), Block("list_item", "One", attrs={"ordered": True, "index": 1}),
              Block("list_item", "Two", attrs={"ordered": True, "index": 2}), Block("quote", "To be\nor not"),
              Block("code", "a = '```'", attrs={"language": None}), Block("page_number", "7")]
    failed = PageResult(PageInfo("x.png", 2, FRAME25), "failed", ["the answer is empty"], [], error="the answer is empty")
    md = render_markdown(Document("x.png", "qwen2.5-vl", "m", [PageResult(info, "ok", [], blocks), failed]))
    assert md == (
        "<!-- page 1 -->\n\n<!-- header: ACME - - Annual report -->\n\n1. One\n2. Two\n\n> To be\n> or not\n\n"
        "````\na = '```'\n````\n\n<!-- page_number: 7 -->\n\n---\n\n<!-- page 2: failed: the answer is empty -->\n"
    )


@pytest.mark.parametrize("text, want", [
    ("1. not a list", "1\\. not a list"),
    ("# not a heading", "\\# not a heading"),
    ("- not an item", "\\- not an item"),
    ("-3.5 stays", "-3.5 stays"),
    ("R&D and &amp;", "R&D and &amp;amp;"),
    ("[x](javascript:alert(1))", "\\[x]\\(javascript:alert(1))"),
    ("![i](http://e/x.png)", "!\\[i]\\(http:\\/\\/e/x.png)"),
    ("<b>raw</b>", "&lt;b>raw&lt;/b>"),
])
def test_markdown_escaping(text, want):
    assert escape_text(text) == want


def test_hostile_answer_through_the_cli_leaves_clean_html_and_markdown(tmp_path, cli):
    from pdfs import make_pdf

    pdf = make_pdf(tmp_path / "invoice.pdf", pages=1)
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "page-1.html").write_text((DATA / "q25_hostile.html").read_text())
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", answers, "--html", "--md", "--json",
              "-o", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    html = (tmp_path / "out" / "invoice.html").read_text().lower()
    md = (tmp_path / "out" / "invoice.md").read_text().lower()
    for bad in HOSTILE_MARKERS:
        assert bad not in html, bad
    for bad in ("<script", "javascript:", "evil.example", "<iframe", "onerror"):
        assert bad not in md, bad
    page1 = json.loads((tmp_path / "out" / "invoice.json").read_text())["pages"][0]
    assert page1["status"] == "repaired" and page1["blocks"][0]["text"] == "Invoice"
