"""`vlparse doc` through the CLI: recorded answers mapped exactly, and tiny real models end to end."""

import json
from pathlib import Path

import pytest

from pdfs import make_pdf, word_rect_displayed
from vlparse.core.families import get_family
from vlparse.core.geometry import Budget, model_size


def _page_model_size(family: str, w_pt: float, h_pt: float) -> tuple[int, int]:
    """What vlparse renders a page to: the budget-filling size on the family's factor."""
    fam = get_family(family)
    budget = Budget(fam.default_min_pixels(), fam.default_max_pixels("doc"))
    z = (budget.max_pixels / (w_pt * h_pt)) ** 0.5
    return model_size(fam, w_pt * z, h_pt * z, budget)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_recorded_answer_maps_to_hand_computed_pixels_and_points(tmp_path, cli, family):
    pdf = make_pdf(tmp_path / "report.pdf", pages=2, rotate={2: 90})
    answers = []
    expected = {}
    for page, word, (w_pt, h_pt) in ((1, "Revenue", (595, 842)), (2, "Forecast", (842, 595))):
        r = word_rect_displayed(pdf, page, word)
        mw, mh = _page_model_size(family, w_pt, h_pt)
        sx, sy = mw / w_pt, mh / h_pt  # pixels per point of the rendered page
        px = [r[0] * sx, r[1] * sy, r[2] * sx, r[3] * sy]
        if family == "qwen2.5-vl":  # absolute pixels of the image the model saw
            coords = [round(v) for v in px]
        else:  # 0..1000 of the image
            coords = [round(px[0] / mw * 1000), round(px[1] / mh * 1000), round(px[2] / mw * 1000),
                      round(px[3] / mh * 1000)]
        answers.append({"page": page, "output": f'```html\n<html><body><h1 data-bbox="{" ".join(map(str, coords))}">'
                                                f'{word}</h1></body></html>\n```'})
        expected[page] = (px, list(r), (mw, mh))
    raw = tmp_path / "answers.jsonl"
    raw.write_text("".join(json.dumps(a) + "\n" for a in answers))
    out = tmp_path / "report.json"
    res = cli("doc", pdf, "--family", family, "--from-output", raw, "--json", "-o", out)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(out.read_text())
    assert [p["page"] for p in doc["pages"]] == [1, 2]
    for p in doc["pages"]:
        px, pt, (mw, mh) = expected[p["page"]]
        assert (p["width_px"], p["height_px"]) == (mw, mh)
        block = next(b for b in p["blocks"] if "Revenue" in b["text"] or "Forecast" in b["text"])
        tol_px = 1.0 if family == "qwen2.5-vl" else mw / 1000 + 0.5  # 0..1000 rounding is coarser
        assert block["bbox_px"] == pytest.approx(px, abs=tol_px)
        assert block["bbox_pt"] == pytest.approx(pt, abs=1.0 if family == "qwen2.5-vl" else 1.5)
    assert doc["pages"][1]["rotation"] == 90


def test_formats_go_where_asked_and_never_over_the_input(tmp_path, cli, monkeypatch):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    ans = tmp_path / "p.html"
    ans.write_text('<h1 data-bbox="10 10 200 60">Revenue</h1><p data-bbox="10 80 400 120">Body text</p>')
    monkeypatch.chdir(tmp_path)
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", ans, "--html", "--md", "--json")
    assert res.exit_code == 0, res.stderr
    for ext in ("html", "md", "json"):
        assert (tmp_path / f"a.{ext}").stat().st_size > 0
    assert "Revenue" in (tmp_path / "a.md").read_text()
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", ans, "--md", "-o", "-")
    assert res.exit_code == 0 and "Revenue" in res.stdout
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", ans, "--json", "-o", pdf)
    assert res.exit_code == 2 and "overwrite the input" in res.stderr


def test_from_output_needs_a_family(tmp_path, cli):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    res = cli("doc", pdf, "--from-output", pdf)
    assert res.exit_code == 2 and "--family" in res.stderr


def test_qwen2_vl_is_refused_for_html(tmp_path, cli):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    res = cli("doc", pdf, "--family", "qwen2-vl", "--from-output", pdf)
    assert res.exit_code == 2 and "QwenVL HTML" in res.stderr


@pytest.mark.slow
def test_tiny_model_end_to_end_through_the_cli(tmp_path, cli, tiny_models):
    pdf = make_pdf(tmp_path / "multi.pdf", pages=3, rotate={3: 90})
    out = tmp_path / "out"
    res = cli("doc", pdf, "--model", tiny_models["qwen2.5-vl"], "--max-new-tokens", "24", "--json", "--raw", "--html",
              "-o", out, "--max-pixels", str(200_000), "--retries", "0")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "multi.json").read_text())
    assert doc["family"] == "qwen2.5-vl" and [p["page"] for p in doc["pages"]] == [1, 2, 3]
    for p in doc["pages"]:
        assert p["width_px"] % 28 == 0 and p["height_px"] % 28 == 0
        assert p["width_px"] * p["height_px"] <= 200_000
        assert p["status"] in ("ok", "truncated", "repaired", "repetition")
        assert p["raw"]  # random weights: some text came back
    assert doc["pages"][2]["width_px"] > doc["pages"][2]["height_px"]  # the rotated page is landscape
    raw = [json.loads(x) for x in (out / "multi.raw.jsonl").read_text().splitlines()]
    assert [r["page"] for r in raw] == [1, 2, 3]
    # re-export from the raw answers gives the same blocks without a model
    res2 = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", out / "multi.raw.jsonl", "--json", "-o",
               tmp_path / "again.json", "--max-pixels", str(200_000))
    assert res2.exit_code == 0, res2.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert [p["blocks"] for p in again["pages"]] == [p["blocks"] for p in doc["pages"]]
    assert (out / "manifest.jsonl").exists()


def test_every_export_of_an_encrypted_pdf(tmp_path, cli):
    pdf = make_pdf(tmp_path / "secret.pdf", pages=1, encrypt="s3cret")
    ans = tmp_path / "a.html"
    ans.write_text('<h1 data-bbox="100 180 500 260">Revenue</h1><p data-bbox="100 300 900 360">Body text</p>')
    out = tmp_path / "out"
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", ans, "--password", "s3cret", "-o", out,
              "--json", "--html", "--md", "--hocr", "--alto", "--review", "--searchable-pdf", "--overlay",
              tmp_path / "ov")
    assert res.exit_code == 0, res.stderr
    for name in ("secret.json", "secret.html", "secret.md", "secret.hocr", "secret.alto.xml", "secret.review.html",
                 "secret.searchable.pdf"):
        assert (out / name).stat().st_size > 0, name
    assert list((tmp_path / "ov").glob("*.png"))
