"""QwenVL Markdown (Qwen3-VL): LaTeX tables and image placeholders with coordinates, other blocks unboxed."""

import json
from pathlib import Path

import pytest

from pdfs import make_pdf
from vlparse.core.families import QWEN3_VL
from vlparse.core.geometry import Frame
from vlparse.core.results import PageInfo
from vlparse.parse.qwenvl_markdown import NO_BOX, parse_latex_table, parse_page_markdown

DATA = Path(__file__).parent / "data" / "qwenvl-markdown"
INFO = PageInfo("x.pdf", 1, Frame(1000, 1400, 1000, 1400, 0.5, 0.5), "pdf")


def _cells(rows):
    return [[(c["text"], c["rowspan"], c["colspan"]) for c in row] for row in rows]


def test_a_cookbook_shaped_answer_becomes_blocks_with_boxes_on_tables_and_images_only():
    page = parse_page_markdown((DATA / "report-page.md").read_text(), QWEN3_VL, INFO)
    assert page.status == "ok" and page.warnings == []
    assert [b.type for b in page.blocks] == ["heading", "paragraph", "table", "caption", "figure", "caption", "list",
                                             "formula"]
    table, figure = page.blocks[2], page.blocks[4]
    assert table.bbox_px == [94, 305.2, 906, 471.8] and table.bbox_pt == [47, 152.6, 453, 235.9]  # 0..1000 -> px
    assert figure.bbox_px == [94, 742, 906, 1073.8]
    assert _cells(table.attrs["rows"]) == [
        [("Region", 2, 1), ("Revenue (M€)", 1, 2)], [("Q2", 1, 1), ("Q3", 1, 1)],
        [("North", 1, 1), ("4.1", 1, 1), ("4.6", 1, 1)], [("South", 1, 1), ("3.2", 1, 1), ("3.5", 1, 1)],
        [("R&D", 1, 1), ("n/a", 1, 2)]]
    assert (table.attrs["n_rows"], table.attrs["n_cols"]) == (5, 3)
    assert table.attrs["latex"].startswith("\\begin{tabular}") and table.attrs["latex"].endswith("\\end{tabular}")
    assert '<td rowspan="2">Region</td><td colspan="2">Revenue (M€)</td>' in table.html
    unboxed = [b for b in page.blocks if b.type not in ("table", "figure")]
    assert all(b.bbox_px is None and b.attrs["no_box"] == NO_BOX for b in unboxed)
    assert page.blocks[0].attrs["level"] == 1 and page.blocks[6].attrs["ordered"] is True
    assert page.blocks[7].attrs["latex"] == "R_n = R_0 (1 + r)^n"


@pytest.mark.parametrize("wrap", [("$$", "$$"), ("```latex", "```"), ("\\begin{table}[h]", "\\end{table}"), ("", "")])
def test_tables_in_their_wrappers_and_without_coordinates(wrap):
    table = "\\begin{tabular}{cc}\nA & B \\\\\n1 & 2 \\\\\n\\end{tabular}"
    text = f"<!-- Table (100, 100, 500, 200) -->\n{wrap[0]}\n{table}\n{wrap[1]}\n\nAfter the table.\n\n{table}\n"
    page = parse_page_markdown(text, QWEN3_VL, INFO)
    t1, after, t2 = page.blocks
    assert (t1.type, after.type, t2.type) == ("table", "paragraph", "table") and after.text == "After the table."
    assert _cells(t1.attrs["rows"]) == [[("A", 1, 1), ("B", 1, 1)], [("1", 1, 1), ("2", 1, 1)]]
    assert t1.bbox_px == [100, 140, 500, 280]
    assert t2.bbox_px is None and "without its coordinates" in t2.attrs["no_box"]


def test_multirow_and_multicolumn_placeholders():
    rows = parse_latex_table("\\begin{tabular}{cccc}\n\\multirow{3}{*}{A} & \\multicolumn{2}{c}{\\multirow{2}{*}{B}}"
                             " & C \\\\\n & \\multicolumn{2}{c}{} & D \\\\\n & x & y & z \\\\\n\\end{tabular}")
    assert _cells(rows) == [[("A", 3, 1), ("B", 2, 2), ("C", 1, 1)], [("D", 1, 1)], [("x", 1, 1), ("y", 1, 1),
                                                                                       ("z", 1, 1)]]


def test_truncated_answers_and_bad_coordinates():
    page = parse_page_markdown("# T\n\n<!-- Table (1, 2, 3) -->\n\\begin{tabular}{cc}\nA & B \\\\\n1 &", QWEN3_VL,
                               INFO)
    assert page.status == "truncated" and page.blocks[-1].attrs["incomplete"] is True
    assert any("malformed coordinates" in w for w in page.warnings) and page.blocks[-1].bbox_px is None
    page = parse_page_markdown("<!-- Image (900, 900, 1200, 1300) -->", QWEN3_VL, INFO)
    assert page.blocks[0].bbox_px == [900, 1260, 1000, 1400] and any("clipped" in w for w in page.warnings)
    assert parse_page_markdown("", QWEN3_VL, INFO).status == "failed"


def test_doc_answer_format_through_the_cli_and_its_exports(tmp_path, cli):
    pdf = make_pdf(tmp_path / "r.pdf", pages=1)
    res = cli("doc", pdf, "--family", "qwen3-vl", "--answer-format", "qwenvl-markdown", "--from-output",
              DATA / "report-page.md", "--json", "--html", "--md", "--review", "-o", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "out" / "r.json").read_text())
    blocks = doc["pages"][0]["blocks"]
    assert [b["type"] for b in blocks if b["bbox_px"]] == ["table", "figure"]
    html = (tmp_path / "out" / "r.html").read_text()
    assert f'data-no-box="{NO_BOX}"' in html and 'rowspan="2"' in html
    assert "Region" in (tmp_path / "out" / "r.md").read_text()
    assert f"no box ({NO_BOX})" in (tmp_path / "out" / "r.review.html").read_text()
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--answer-format", "qwenvl-markdown", "--from-output",
              DATA / "report-page.md")
    assert res.exit_code == 2 and "Qwen3-VL's document-parsing format" in res.stderr


def test_the_server_is_asked_with_the_cookbook_prompt(tmp_path, cli):
    from fake_openai_server import FakeOpenAIServer

    pdf = make_pdf(tmp_path / "r.pdf", pages=1)
    answer = (DATA / "report-page.md").read_text()
    with FakeOpenAIServer(lambda req: answer, models=("Qwen/Qwen3-VL-8B-Instruct",)) as srv:
        res = cli("doc", pdf, "--backend", "openai", "--base-url", srv.url, "--answer-format", "qwenvl-markdown",
                  "--json", "-o", tmp_path / "r.json")
    assert res.exit_code == 0, res.stderr
    assert [(r.system, r.user) for r in srv.chat_requests] == [(None, "qwenvl markdown")]
    assert json.loads((tmp_path / "r.json").read_text())["pages"][0]["blocks"][2]["type"] == "table"


def test_the_api_takes_the_answer_format(tmp_path):
    import vlparse

    pdf = make_pdf(tmp_path / "r.pdf", pages=1)
    doc = vlparse.parse(str(pdf), family="qwen3-vl", answer_format="qwenvl-markdown",
                        from_output=str(DATA / "report-page.md"))
    assert [b.type for b in doc.pages[0].blocks if b.bbox_px] == ["table", "figure"]
    with pytest.raises(vlparse.UsageError, match="Qwen3-VL's document-parsing format"):
        vlparse.parse(str(pdf), family="qwen2.5-vl", answer_format="qwenvl-markdown",
                      from_output=str(DATA / "report-page.md"))
