"""olmOCR-Bench compatible scoring: tests in its JSONL format score as its definitions say, the same as the
olmocr package's own bench code (the reference, when installed), and a vlparse run is presented to it as
documented."""

import json
import sys
import types

import pytest

from vlparse.eval.olmocr_bench import OLMOCR_VERSION, bench_markdown, run_test

MD = """# Quarterly report

Revenue grew by **twelve** percent over the quarter.
The backlog reached a record high.

<table><tr><th>Region</th><th>Q2</th><th>Q3</th></tr><tr><td>North</td><td>4.1</td><td>4.6</td></tr>
<tr><td>South</td><td>3.2</td><td>3.5</td></tr></table>

| Item | Cost |
|---|---|
| pens | 3 |

$$ R_n = R_0 (1 + r)^n $$
"""

# (test in olmOCR-Bench's JSONL shape, markdown, expected result by the definitions)
CASES = [
    ({"type": "present", "text": "Revenue grew by twelve percent"}, MD, True),  # bold removed by normalisation
    ({"type": "present", "text": "Revenue grew by twelwe percent"}, MD, False),  # one edit, max_diffs 0
    ({"type": "present", "text": "Revenue grew by twelwe percent", "max_diffs": 1}, MD, True),
    ({"type": "present", "text": "revenue GREW", "case_sensitive": False}, MD, True),
    ({"type": "present", "text": "record high", "first_n": 20}, MD, False),
    ({"type": "absent", "text": "Confidential - page 3"}, MD, True),
    ({"type": "absent", "text": "The backlog reached"}, MD, False),
    ({"type": "order", "before": "Revenue grew", "after": "The backlog"}, MD, True),
    ({"type": "order", "before": "The backlog", "after": "Revenue grew"}, MD, False),
    ({"type": "table", "cell": "4.6", "up": "Q3", "left": "4.1", "top_heading": "Q3", "left_heading": "North"}, MD,
     True),
    ({"type": "table", "cell": "4.6", "up": "Q2"}, MD, False),
    ({"type": "table", "cell": "3", "left": "pens", "top_heading": "Cost"}, MD, True),
    ({"type": "table", "cell": "anything"}, "no tables here", False),
    ({"type": "baseline"}, MD, True),
    ({"type": "baseline"}, "   \n", False),
    ({"type": "baseline"}, "Start " + "ab" * 40, False),  # 40 repeats of the last 2-gram > 30
    ({"type": "baseline", "max_length": 5}, "Page 3", True),
    ({"type": "baseline"}, "Text with \u4e2d\u6587", False),
    ({"type": "math", "math": "R_n = R_0 (1 + r)^n"}, MD, True),
    ({"type": "math", "math": "R_n=R_0(1+r)^n"}, MD, True),  # whitespace differences only
    ({"type": "math", "math": "x^2"}, MD, False),
]


def _full(t, n):
    return {"pdf": "doc.pdf", "page": 1, "id": f"t{n}", **t}


@pytest.mark.parametrize("n", range(len(CASES)))
def test_tests_score_as_the_definitions_say(n):
    t, md, expected = CASES[n]
    assert run_test(_full(t, n), md)[0] is expected


def _olmocr_tests():
    """olmocr's bench test classes, importable without a browser (its KaTeX module imports playwright)."""
    pytest.importorskip("olmocr", reason="olmocr not installed (pip install --no-deps olmocr==0.4.27 "
                                         "beautifulsoup4 fuzzysearch tqdm): no reference to compare with")
    if "playwright" not in sys.modules:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:  # math tests render in a browser; they are compared by definition above instead
            pw, api = types.ModuleType("playwright"), types.ModuleType("playwright.sync_api")
            api.Error, api.sync_playwright = Exception, None
            pw.sync_api = api
            sys.modules.update({"playwright": pw, "playwright.sync_api": api})
    import olmocr
    from olmocr.bench import tests as ref

    assert olmocr.VERSION == OLMOCR_VERSION
    return ref


@pytest.mark.parametrize("n", [i for i, c in enumerate(CASES) if c[0]["type"] != "math"])
def test_the_same_result_as_olmocr_bench_itself(n):
    ref = _olmocr_tests()
    t, md, _ = CASES[n]
    data = _full(t, n)
    expected = ref.load_single_test(json.dumps(data)).run(md)[0]
    assert run_test(data, md)[0] is expected


def test_a_vlparse_page_is_presented_without_headers_footers_or_image_links(tmp_path, cli):
    from verifydocs import make_lines_pdf

    pdf = make_lines_pdf(tmp_path / "doc.pdf")
    (tmp_path / "a.html").write_text(
        '<html><body><header data-bbox="0 0 1000 40">Running head - confidential</header>'
        '<h1 data-bbox="100 100 900 150">Alpha bravo charlie delta</h1>'
        '<div class="image" data-bbox="100 600 900 900"><img data-bbox="100 600 900 900"/></div>'
        '<p data-bbox="100 300 900 350">Echo foxtrot golf hotel</p>'
        '<div class="page-number" data-bbox="900 950 950 990">7</div></body></html>')
    res = cli("doc", pdf, "--family", "qwen3-vl", "--from-output", tmp_path / "a.html", "-o", tmp_path / "run",
              "--json", "-q")
    assert res.exit_code == 0, res.stderr
    tests = tmp_path / "bench.jsonl"
    tests.write_text("".join(json.dumps(_full(t, i)) + "\n" for i, t in enumerate([
        {"type": "absent", "text": "Running head - confidential"},
        {"type": "present", "text": "Alpha bravo charlie delta"},
        {"type": "order", "before": "Alpha bravo", "after": "Echo foxtrot"},
        {"type": "baseline"},
        {"type": "absent", "text": "!["},
    ])))
    other = tmp_path / "other.jsonl"  # a second file: one pass, one fail -> 0.5; the score is the mean per file
    other.write_text(json.dumps(_full({"type": "present", "text": "Echo foxtrot"}, 10)) + "\n"
                     + json.dumps(_full({"type": "present", "text": "Running head - confidential"}, 11)) + "\n")
    res = cli("eval", tmp_path, "--olmocr-tests", tests, "--olmocr-tests", other, "--from-run", tmp_path / "run",
              "--json")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["files"] == {"bench.jsonl": 1.0, "other.jsonl": 0.5}, report["tests"]
    assert report["overall"]["score"] == 0.75 and report["overall"]["tests"] == 7
    assert report["overall"]["present"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["olmocr_version"] == OLMOCR_VERSION
    from vlparse.core.results import Document

    doc = Document.from_dict(json.loads((tmp_path / "run" / "doc.json").read_text()))
    assert bench_markdown(doc.pages[0]) == "# Alpha bravo charlie delta\n\nEcho foxtrot golf hotel\n"
