"""Verification against the PDF's own text layer: per-block agreement, page metrics, planted defects moving
exactly the metrics they should (amounts computed by hand), scans unverifiable, --snap-boxes, the CLI path."""

import json

import pytest

from verifydocs import LINES, PAD, answer, line_extents, make_lines_pdf, padded
from vlparse.core.families import QWEN3_VL
from vlparse.core.geometry import Frame
from vlparse.core.results import OK, Block, PageInfo, PageResult
from vlparse.pages.textlayer import page_words
from vlparse.parse.verify import LOW, UNVERIFIABLE, VERIFIED, agreement, normalise, verify_page, word_boxes

# characters of each line without spaces: hand-counted
CHARS = [5 + 5 + 7 + 5, 4 + 7 + 4 + 5, 5 + 6 + 4 + 4]  # 22, 20, 19
assert CHARS == [len(t.replace(" ", "")) for t, _, _ in LINES]


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    return make_lines_pdf(tmp_path_factory.mktemp("verify") / "lines.pdf")


@pytest.fixture(scope="module")
def words(pdf):
    return page_words(str(pdf), 1)


def _page(blocks):
    info = PageInfo("x.pdf", 1, Frame(800, 1200, 800, 1200, 0.5, 0.5), kind="pdf", width_pt=400, height_pt=600)
    return PageResult(info, OK, blocks=blocks)


def _blocks(pdf, order=(0, 1, 2), dx=None):
    ext = line_extents(pdf)
    out = []
    for i in order:
        box = padded(ext[i], dx=(dx or {}).get(i, 0.0))
        out.append(Block("paragraph", LINES[i][0], bbox_pt=box, bbox_px=[v * 2 for v in box]))
    return out


def _iou_padded(w, h, pad=PAD, dx=0.0):
    """IoU of a w x h word extent with the box grown by ``pad`` on each side and moved ``dx`` right (dx <= pad*...)."""
    inter_w = w - max(0.0, dx - pad)
    return inter_w * h / ((w + 2 * pad) * (h + 2 * pad) + w * h - inter_w * h)


def test_a_correct_answer_scores_one_everywhere(pdf, words):
    res = _page(_blocks(pdf))
    page = verify_page(res, words)
    assert len(words) == 12
    assert page["status"] == VERIFIED and res.status == OK and res.warnings == []
    assert (page["coverage"], page["hallucination"], page["order"]) == (1.0, 0.0, 1.0)
    ext = line_extents(pdf)
    for b, e in zip(res.blocks, ext):
        v = b.verify
        assert (v["status"], v["text"], v["missing_chars"], v["extra_chars"], v["words"]) == (VERIFIED, 1.0, 0, 0, 4)
        assert v["iou"] == pytest.approx(_iou_padded(e[2] - e[0], e[3] - e[1]), abs=1e-3)
        assert "word_boxes" not in v  # exports read them from the layer again (no bulk in the JSON)
        k = res.blocks.index(b)
        assert word_boxes(b.text, words, list(range(4 * k, 4 * k + 4))) == \
            [pytest.approx(list(w.bbox_pt), abs=0.006) for w in words[4 * k:4 * k + 4]]


def test_a_swapped_paragraph_moves_only_the_order(pdf, words):
    res = _page(_blocks(pdf, order=(0, 2, 1)))
    page = verify_page(res, words)
    # block pairs in answer order: (1,3) ok, (1,2) ok, (3,2) reversed -> 2 of 3
    assert page["order"] == pytest.approx(2 / 3, abs=1e-4)
    assert (page["coverage"], page["hallucination"]) == (1.0, 0.0)
    assert all(b.verify["text"] == 1.0 for b in res.blocks)
    assert page["status"] == LOW and res.status == "suspect" and any("order" in w for w in res.warnings)


def test_a_dropped_block_moves_only_the_coverage(pdf, words):
    res = _page(_blocks(pdf, order=(0, 1)))
    page = verify_page(res, words)
    assert page["coverage"] == pytest.approx(8 / 12, abs=1e-4)  # the 4 words of line 3 are in no block
    assert (page["hallucination"], page["order"]) == (0.0, 1.0)
    assert all(b.verify["status"] == VERIFIED for b in res.blocks)
    assert res.status == "suspect" and any("67% of the text layer" in w for w in res.warnings)


def test_an_invented_block_is_flagged_and_moves_only_the_hallucination(pdf, words):
    blocks = _blocks(pdf) + [Block("paragraph", "Zulu yankee xray", bbox_pt=[60, 450, 250, 470])]
    res = _page(blocks)
    page = verify_page(res, words)
    inv = res.blocks[-1].verify
    assert (inv["status"], inv["text"], inv["words"], inv["extra_chars"], inv["missing_chars"]) == (LOW, 0.0, 0, 14, 0)
    assert page["hallucination"] == pytest.approx(14 / (22 + 20 + 19 + 14), abs=1e-4)
    assert (page["coverage"], page["order"]) == (1.0, 1.0)
    assert res.status == "suspect"
    assert any("block 4" in w and "invented" in w for w in res.warnings)


def test_a_shifted_box_moves_only_the_box_agreement(pdf, words):
    res = _page(_blocks(pdf, dx={1: 10.0}))
    page = verify_page(res, words)
    e = line_extents(pdf)[1]
    w, h = e[2] - e[0], e[3] - e[1]
    # the box moved 10 pt right: x-overlap with the words is w - 8; y still covers them
    assert res.blocks[1].verify["iou"] == pytest.approx((w - 8) * h / ((w + 4) * (h + 4) + w * h - (w - 8) * h),
                                                        abs=1e-3)
    assert res.blocks[1].verify["text"] == 1.0
    assert (page["coverage"], page["hallucination"], page["order"]) == (1.0, 0.0, 1.0)


def test_agreement_counts_and_normalisation():
    assert agreement("Alpha bravo", "Alpha bravo") == (1.0, 0, 0)
    # 'Alphabrav' vs 'Alphabravo': lcs 9 -> 18/19, one char missing
    assert agreement("Alpha brav", "Alpha bravo") == (pytest.approx(18 / 19), 1, 0)
    assert agreement("Alpha bravoX", "Alpha bravo") == (pytest.approx(20 / 21), 0, 1)
    assert normalise("ex-\nample of \ufb01ne  text") == "example of fine text"  # de-hyphenated, NFKC ligature
    assert agreement("exam- ple", "exam-\nple")[0] == 1.0


def test_scans_and_images_are_unverifiable_not_failures():
    res = _page([Block("paragraph", "text", bbox_pt=[0, 0, 10, 10])])
    page = verify_page(res, None, reason="no text layer (a scanned page?)")
    assert page == {"status": UNVERIFIABLE, "reason": "no text layer (a scanned page?)"}
    assert res.status == OK and res.warnings == [] and res.blocks[0].verify is None


def test_pictures_and_unboxed_blocks_are_unverifiable_but_a_formula_still_covers_its_words(pdf, words):
    blocks = _blocks(pdf)
    blocks[2] = Block("formula", "x", bbox_pt=blocks[2].bbox_pt)
    blocks.append(Block("paragraph", "no box here"))
    res = _page(blocks)
    page = verify_page(res, words)
    assert [b.verify["status"] for b in res.blocks] == [VERIFIED, VERIFIED, UNVERIFIABLE, UNVERIFIABLE]
    assert page["coverage"] == 1.0 and page["blocks_compared"] == 2


def test_snap_boxes_tightens_verified_blocks_and_keeps_the_model_box(pdf, words):
    res = _page(_blocks(pdf))
    model_boxes = [list(b.bbox_pt) for b in res.blocks]
    verify_page(res, words, snap_boxes=True)
    for b, e, m in zip(res.blocks, line_extents(pdf), model_boxes):
        assert b.bbox_pt == pytest.approx(e, abs=0.01) and b.bbox_px == pytest.approx([v * 2 for v in e], abs=0.02)
        assert b.verify["model_bbox_pt"] == m and b.verify["snapped"]


def _run(cli, tmp_path, pdf, html, *extra):
    tmp_path.mkdir(exist_ok=True)
    ans = tmp_path / "answer.html"
    ans.write_text(html)
    out = tmp_path / "out"
    res = cli("doc", pdf, "--family", "qwen3-vl", "--from-output", ans, "-o", out, "--json", *extra)
    return res, json.loads((out / "lines.json").read_text())["pages"][0]


def test_doc_records_verification_and_flags_an_invented_block(tmp_path, cli, pdf):
    res, page = _run(cli, tmp_path, pdf, answer(pdf))
    assert res.exit_code == 0, res.stderr
    assert page["status"] == "ok" and page["verify"]["status"] == VERIFIED
    assert [b["verify"]["text"] for b in page["blocks"]] == [1.0, 1.0, 1.0]
    res, page = _run(cli, tmp_path / "b", pdf, answer(pdf, invented=("Zulu yankee xray", [60, 450, 250, 470])))
    assert page["status"] == "suspect" and page["blocks"][3]["verify"]["status"] == LOW
    assert page["verify"]["hallucination"] == pytest.approx(14 / 75, abs=1e-4)
    assert "invented" in res.stderr or any("invented" in w for w in page["warnings"])


def test_a_loop_cut_to_its_first_copy_keeps_its_status_and_shows_as_lost_coverage(tmp_path, cli, pdf):
    res, page = _run(cli, tmp_path, pdf, answer(pdf, repeat=1))
    assert page["status"] == "repetition"  # the more specific status stays
    assert [b["text"] for b in page["blocks"]] == [LINES[0][0], LINES[1][0]]
    assert page["verify"]["coverage"] == pytest.approx(8 / 12, abs=1e-4)
    assert page["verify"]["hallucination"] == 0.0


def test_snap_boxes_is_part_of_the_resume_fingerprint(tmp_path, cli, pdf):
    res, page = _run(cli, tmp_path, pdf, answer(pdf))
    assert "snapped" not in page["blocks"][0]["verify"]
    res, page = _run(cli, tmp_path, pdf, answer(pdf), "--snap-boxes")
    assert "already done" not in res.stderr and page["blocks"][0]["verify"]["snapped"]
    assert page["blocks"][0]["bbox_pt"] == pytest.approx(line_extents(pdf)[0], abs=0.05)


def test_hocr_and_alto_get_word_boxes_from_the_text_layer_only_for_verified_blocks(tmp_path, cli, pdf, words):
    from lxml import etree

    html = answer(pdf, invented=("Zulu yankee xray", [60, 450, 250, 470]))
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "a.html").write_text(html)
    out = tmp_path / "out"
    res = cli("doc", pdf, "--family", "qwen3-vl", "--from-output", tmp_path / "a.html", "-o", out, "--hocr", "--alto",
              "--json")
    assert res.exit_code == 0, res.stderr
    page = json.loads((out / "lines.json").read_text())["pages"][0]
    zx, zy = page["width_px"] / page["width_pt"], page["height_px"] / page["height_pt"]
    hocr = etree.fromstring((out / "lines.hocr").read_bytes())
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    spans = hocr.findall(".//h:span[@class='ocrx_word']", ns)
    # the 12 words of the three verified paragraphs; none for the invented one (its text is kept as a line)
    assert [s.text for s in spans] == [w.text for w in words]
    for s, w in zip(spans, words):
        box = [int(v) for v in s.get("title").split()[1:5]]
        assert box == pytest.approx([v * (zx, zy)[i % 2] for i, v in enumerate(w.bbox_pt)], abs=1.01)  # the layer's box, in page pixels
    lines = hocr.findall(".//h:span[@class='ocr_line']", ns)
    assert lines[-1].text == "Zulu yankee xray" and not lines[-1].findall("h:span", ns)
    alto = etree.fromstring((out / "lines.alto.xml").read_bytes())
    strings = [e.get("CONTENT") for e in alto.iter("{*}String")]
    assert strings == [w.text for w in words] + ["Zulu yankee xray"]


def test_review_page_colours_boxes_by_agreement(tmp_path, cli, pdf):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "a.html").write_text(answer(pdf, invented=("Zulu yankee xray", [60, 450, 250, 470])))
    res = cli("doc", pdf, "--family", "qwen3-vl", "--from-output", tmp_path / "a.html", "-o", tmp_path / "o",
              "--review")
    assert res.exit_code == 0, res.stderr
    page = (tmp_path / "o" / "lines.review.html").read_text()
    from vlparse.export.review import AGREEMENT_RGB

    import re
    boxes = re.findall(r'<a class="box v-(\w+)"[^>]*--c:([\d ]+)"[^>]*data-verify="(\w+)"', page)
    assert [(b[0], b[2]) for b in boxes] == [("verified", "verified")] * 3 + [("low", "low")]
    assert boxes[-1][1] == AGREEMENT_RGB["low"] and boxes[0][1] == AGREEMENT_RGB["verified"]


def test_scanned_and_ocr_layer_pages_and_images_are_unverifiable_through_doc(tmp_path, cli):
    import pymupdf
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 600), "white")
    ImageDraw.Draw(img).text((60, 100), "Alpha bravo charlie delta", fill="black")
    img.save(tmp_path / "scan.png")
    doc = pymupdf.open()
    for ocr in (False, True):  # page 1: a scan; page 2: the same scan with an invisible OCR layer over it
        page = doc.new_page(width=400, height=600)
        page.insert_image(page.rect, filename=str(tmp_path / "scan.png"))
        if ocr:
            page.insert_text((60, 110), "Alpha bravo charlie delta", fontsize=12, render_mode=3)
    doc.save(str(tmp_path / "scan.pdf"))
    one = '<p data-bbox="150 150 600 200">Alpha bravo charlie delta</p>'
    (tmp_path / "a.html").write_text(one)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"page": n, "output": one}) + "\n" for n in (1, 2)))
    res = cli("doc", tmp_path / "scan.pdf", "--family", "qwen3-vl", "--from-output", tmp_path / "a.jsonl", "-o",
              tmp_path / "o", "--json")
    assert res.exit_code == 0, res.stderr
    pages = json.loads((tmp_path / "o" / "scan.json").read_text())["pages"]
    assert [p["verify"] for p in pages] == [{"status": UNVERIFIABLE, "reason": "no text layer (a scanned page?)"},
                                            {"status": UNVERIFIABLE, "reason": "only an invisible OCR layer"}]
    assert [p["status"] for p in pages] == ["ok", "ok"] and all("verify" not in b for p in pages for b in p["blocks"])
    res = cli("doc", tmp_path / "scan.png", "--family", "qwen3-vl", "--from-output", tmp_path / "a.html", "-o",
              tmp_path / "i", "--json")
    page = json.loads((tmp_path / "i" / "scan.json").read_text())["pages"][0]
    assert page["verify"] == {"status": UNVERIFIABLE, "reason": "an image has no text layer"} and page["status"] == "ok"


def test_a_page_whose_blocks_have_no_box_is_unverifiable_but_an_empty_answer_is_suspect(words):
    res = _page([Block("paragraph", "Alpha bravo charlie delta")])
    assert verify_page(res, words) == {"status": UNVERIFIABLE, "reason": "no block has a box"} and res.status == OK
    empty = _page([])
    assert verify_page(empty, words)["coverage"] == 0.0 and empty.status == "suspect"
