"""vlparse eval: metrics against the text layer with planted defects (amounts computed by hand), the corpus from
recorded answers, hand-written references, --compare, --min-score, and the tiny model's plumbing."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verifydocs import LINES, answer, line_extents, make_lines_pdf, padded
from vlparse.core.results import Block
from vlparse.eval.metrics import page_metrics
from vlparse.eval.selfbench import layer_units
from vlparse.pages.textlayer import page_text_layer
from vlparse.parse.verify import iou

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "corpus"
CHARS = [22, 20, 19]  # characters of the three lines without spaces (hand-counted in test_verify)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    return make_lines_pdf(tmp_path_factory.mktemp("eval") / "lines.pdf")


@pytest.fixture(scope="module")
def units(pdf):
    u = layer_units(page_text_layer(str(pdf), 1))
    assert [x.text for x in u] == [t for t, _, _ in LINES]
    return u


def _blocks(pdf, order=(0, 1, 2), dx=None):
    ext = line_extents(pdf)
    return [Block("paragraph", LINES[i][0], bbox_pt=padded(ext[i], dx=(dx or {}).get(i, 0.0))) for i in order]


def _ious(pdf, dx=None):
    ext = line_extents(pdf)
    return [iou(padded(e, dx=(dx or {}).get(i, 0.0)), e) for i, e in enumerate(ext)]


def test_a_correct_answer_scores_one_in_text_and_order_and_its_padding_in_box(pdf, units):
    m = page_metrics(units, _blocks(pdf))
    assert (m["text"], m["order"]) == (1.0, 1.0)
    assert m["box"] == pytest.approx(sum(_ious(pdf)) / 3, abs=1e-4) and m["box"] > 0.75


def test_a_swapped_paragraph_moves_only_the_order(pdf, units):
    m = page_metrics(units, _blocks(pdf, order=(0, 2, 1)))
    # consecutive lines: (1,2) blocks 0 -> 2 in order; (2,3) blocks 2 -> 1 reversed
    assert m["order"] == 0.5 and m["text"] == 1.0
    assert m["box"] == pytest.approx(sum(_ious(pdf)) / 3, abs=1e-4)


def test_a_dropped_block_moves_only_the_text(pdf, units):
    m = page_metrics(units, _blocks(pdf, order=(0, 1)))
    assert m["text"] == pytest.approx(2 * 42 / (42 + 61), abs=1e-4)  # 84/103
    assert m["order"] == 1.0 and m["box"] == pytest.approx(sum(_ious(pdf)[:2]) / 2, abs=1e-4)


def test_an_invented_block_moves_only_the_text(pdf, units):
    blocks = _blocks(pdf) + [Block("paragraph", "Zulu yankee xray", bbox_pt=[60, 450, 250, 470])]
    m = page_metrics(units, blocks)
    assert m["text"] == pytest.approx(2 * 61 / (61 + 75), abs=1e-4)  # 122/136
    assert m["order"] == 1.0 and m["box"] == pytest.approx(sum(_ious(pdf)) / 3, abs=1e-4)


def test_a_shifted_box_moves_only_the_box(pdf, units):
    m = page_metrics(units, _blocks(pdf, dx={1: 10.0}))
    assert m["box"] == pytest.approx(sum(_ious(pdf, dx={1: 10.0})) / 3, abs=1e-4)
    assert m["box"] < page_metrics(units, _blocks(pdf))["box"] - 0.02  # one box of three moved
    assert (m["text"], m["order"]) == (1.0, 1.0)


def _doc_run(cli, tmp_path, pdf, html, name):
    d = tmp_path / name
    d.mkdir()
    (d / "a.html").write_text(html)
    res = cli("doc", pdf, "--family", "qwen3-vl", "--from-output", d / "a.html", "-o", d / "run", "--json", "-q")
    assert res.exit_code == 0, res.stderr
    return d / "run"


def test_a_loop_cut_to_its_first_copy_through_doc_and_eval(tmp_path, cli, pdf):
    run = _doc_run(cli, tmp_path, pdf, answer(pdf, repeat=1), "loop")
    res = cli("eval", pdf, "--from-run", run, "--json")
    assert res.exit_code == 0, res.stderr
    page = json.loads(res.stdout)["documents"][0]["page_scores"][0]
    assert page["status"] == "repetition"
    assert page["text"] == pytest.approx(84 / 103, abs=1e-3) and page["order"] == 1.0


def test_compare_and_min_score(tmp_path, cli, pdf):
    good = _doc_run(cli, tmp_path, pdf, answer(pdf), "good")
    swapped = _doc_run(cli, tmp_path, pdf, answer(pdf, order=(0, 2, 1)), "swapped")
    res = cli("eval", pdf, "--compare", good, swapped, "--json")
    assert res.exit_code == 0, res.stderr
    runs = json.loads(res.stdout)["runs"]
    assert [r["overall"]["order"] for r in runs] == [1.0, 0.5]
    assert [r["overall"]["text"] for r in runs] == [1.0, 1.0]
    # the score is the mean of text, box and order: the swapped run is 0.5/3 lower
    assert runs[0]["overall"]["score"] - runs[1]["overall"]["score"] == pytest.approx(0.5 / 3, abs=2e-4)
    ok = cli("eval", pdf, "--from-run", good, "--min-score", "0.8", "--json")
    assert ok.exit_code == 0, ok.stderr
    low = cli("eval", pdf, "--from-run", swapped, "--min-score", str(runs[0]["overall"]["score"]), "--json")
    assert low.exit_code == 1 and "below --min-score" in low.stderr


def test_eval_usage_errors_are_one_line(tmp_path, cli, pdf):
    res = cli("eval", pdf, "--from-run", tmp_path / "nope")
    assert res.exit_code == 2 and res.stderr.startswith("vlparse: error:") and "Traceback" not in res.stderr
    res = cli("eval", tmp_path / "missing-dir", "--from-run", tmp_path)
    assert res.exit_code == 2 and "no such file" in res.stderr


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """The shipped corpus through doc from its recorded answers (one subprocess: the real CLI)."""
    out = tmp_path_factory.mktemp("corpus") / "run"
    res = subprocess.run([sys.executable, "-m", "vlparse", "doc", str(CORPUS), "--family", "qwen3-vl",
                          "--from-output", str(CORPUS / "answers.jsonl"), "-o", str(out), "--json", "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


def test_the_corpus_is_what_its_script_makes(tmp_path):
    """benchmarks/make_corpus.py is deterministic: the committed corpus is its output."""
    script = tmp_path / "make_corpus.py"
    shutil.copy(ROOT / "benchmarks" / "make_corpus.py", script)
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    made = sorted(p.name for p in (tmp_path / "corpus").iterdir())
    assert made == ["answers.jsonl", "formulas.pdf", "handref.pdf", "one_column.pdf", "rotated.pdf", "tables.pdf",
                    "two_column.pdf"]
    for name in made:
        assert (tmp_path / "corpus" / name).read_bytes() == (CORPUS / name).read_bytes(), name
    import pymupdf

    pages = {p.name: pymupdf.open(str(p)).page_count for p in CORPUS.glob("*.pdf")}
    assert sum(pages.values()) == 30
    assert {pymupdf.open(str(CORPUS / "rotated.pdf"))[0].rotation} == {90}


def test_the_corpus_from_its_recorded_answers_scores_near_one(cli, corpus_run):
    res = cli("eval", CORPUS, "--from-run", corpus_run, "--json")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    overall = report["overall"]
    assert overall["pages"] == 30 and overall["text"] > 0.99 and overall["order"] > 0.99 and overall["box"] > 0.8
    assert report["family"] == ["qwen3-vl"] and report["model_image_sizes"]
    hand = next(d for d in report["documents"] if d["source"].endswith("handref.pdf"))
    assert [p["truth"] for p in hand["page_scores"]] == ["reference"] * 5
    assert hand["text"] == 1.0 and hand["box"] > 0.6  # the references' boxes were estimated by hand
    other = next(d for d in report["documents"] if d["source"].endswith("two_column.pdf"))
    assert {p["truth"] for p in other["page_scores"]} == {"text layer"}


def test_hand_written_references_are_independent_of_the_text_layer(cli, corpus_run):
    """A reference whose text disagrees with the page lowers the score: it is not read from the layer."""
    ref = json.loads((CORPUS / "refs" / "handref.json").read_text())
    assert ref["pages"]["1"][0]["text"] == "Harbour report"
    from vlparse.core.results import Document
    from vlparse.eval.selfbench import reference_units

    doc = Document.from_dict(json.loads((corpus_run / "handref.json").read_text()))
    units = reference_units(ref, 1)
    units[1] = type(units[1])("The harbour closed at dusk.", units[1].bbox_pt)  # not what the page says
    m = page_metrics(units, doc.pages[0].blocks)
    assert m["text"] < 0.95


def test_verification_on_the_corpus_finds_every_page_verified(corpus_run):
    for path in corpus_run.glob("*.json"):
        for page in json.loads(path.read_text())["pages"]:
            assert page["verify"]["status"] == "verified" and page["status"] == "ok", (path.name, page["page"])


@pytest.mark.slow
def test_eval_runs_the_tiny_model_on_the_corpus(tmp_path, cli, tiny_models):
    """Plumbing only: a random-weight model's parse scores near nothing, but every page goes through."""
    import pymupdf

    sub = tmp_path / "corpus"
    sub.mkdir()
    for name in ("handref.pdf", "rotated.pdf"):  # the first two pages of each: a reference page, a rotated page
        with pymupdf.open(str(CORPUS / name)) as src, pymupdf.open() as part:
            part.insert_pdf(src, to_page=1)
            part.save(str(sub / name))
    shutil.copytree(CORPUS / "refs", sub / "refs")
    res = cli("eval", sub, "--model", tiny_models["qwen2.5-vl"], "--max-new-tokens", "16", "--max-pixels", "60000",
              "--json", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["overall"]["pages"] == 4 and report["family"] == ["qwen2.5-vl"]
    assert [p["truth"] for p in report["documents"][0]["page_scores"]] == ["reference", "reference"]
    assert 0.0 <= report["overall"]["score"] <= 1.0


def test_terminal_tables_for_every_report_kind(tmp_path, cli, pdf, monkeypatch, capsys):
    """On a terminal eval prints a table (self-benchmark, compare, olmOCR-Bench/grounding summaries)."""
    from vlparse.run import eval_job as job
    from vlparse.run import console

    good = _doc_run(cli, tmp_path, pdf, answer(pdf), "good")
    monkeypatch.setattr(console, "stdout_is_tty", lambda: True)
    res = cli("eval", pdf, "--from-run", good)
    assert res.exit_code == 0 and "overall" in res.stdout and "1.000" in res.stdout and not res.stdout.startswith("{")
    res = cli("eval", pdf, "--compare", good, good)
    assert res.exit_code == 0 and "A =" in res.stdout and "text A" in res.stdout and "text B" in res.stdout
    job._table({"kind": "grounding", "overall": {"AP": 0.5, "AR100": 1.0}})
    assert "AP" in capsys.readouterr().out


def test_an_answer_that_finds_nothing_scores_zero_everywhere(units):
    m = page_metrics(units, [Block("paragraph", "Zulu", bbox_pt=[300, 500, 380, 520])])
    assert (m["text"], m["box"], m["order"], m["score"]) == (0.0, 0.0, 0.0, 0.0)
    assert page_metrics(units, [])["score"] == 0.0


def test_scoring_needs_no_model_and_the_metrics_stay_pure(tmp_path, corpus_run):
    """eval --from-run imports no torch; verification and the metrics import no I/O layer (core/parse rule)."""
    code = ("import sys\nfrom vlparse.cli import main\n"
            "rc = main(['eval', sys.argv[1], '--from-run', sys.argv[2], '--json'])\nassert rc == 0, rc\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code, str(CORPUS), str(corpus_run)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    code = ("import sys\nimport vlparse.parse.verify, vlparse.eval.metrics\n"
            "bad = [m for m in sys.modules if m.startswith(('vlparse.pages', 'vlparse.run', 'vlparse.backends', "
            "'torch', 'pymupdf'))]\nassert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
