"""Hostile and odd model answers: each one is a page failure, a warned repair or a clear error, never a
crash, an "internal error", or something silently read as something else.

Every test here is marked ``adversarial`` (README: "Reliability promises and the tests that check them").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdfs import make_pdf
from vlparse.backends.base import Answer, Backend
from vlparse.core.errors import UsageError
from vlparse.core.families import QWEN2_5_VL, get_family
from vlparse.core.geometry import Budget, Frame
from vlparse.core.results import FAILED, OK, REPAIRED, TRUNCATED, PageInfo
from vlparse.parse import grounding as grounding_mod
from vlparse.parse.grounding import parse_grounding
from vlparse.parse.html import parse_page_html
from vlparse.run.pipeline import RunConfig, Runner
from vlparse.run.prompts import load_prompt
from vlparse.run.tasks import Decoding, Task

pytestmark = pytest.mark.adversarial

Q25, Q3 = get_family("qwen2.5-vl"), get_family("qwen3-vl")
FRAME25 = Frame(1512, 2800, 1008, 1400, 0.5, 0.25)  # px = (x*1.5, y*2)
GFRAME = Frame(1000, 600, 1008, 588)
#: what a parser bug caught by a blanket ``except`` looks like on a page
INTERNAL = ("could not parse the answer", "Traceback", "RecursionError", "internal error")


def no_internal_error(*texts) -> bool:
    return not any(mark in (t or "") for t in texts for mark in INTERNAL)


def doc(text: str, family=Q25, frame=FRAME25):
    page = parse_page_html(text, family, PageInfo("doc.pdf", 1, frame, kind="pdf"))
    assert no_internal_error(page.error, *page.warnings), page.warnings
    return page


def ground(text: str, family=Q25, frame=GFRAME):
    return parse_grounding(text, family, frame)


# -- characters that break encoders or parsers ---------------------------------------------------------------


def test_lone_surrogate_is_replaced_and_warned_not_cut():
    page = doc('<p data-bbox="1 1 100 100">before\ud800after</p>')
    assert [b.text for b in page.blocks] == ["before\ufffdafter"]  # libxml2 used to stop at the surrogate
    assert page.status == REPAIRED and any("surrogate" in w for w in page.warnings)


def test_nul_bytes_are_removed_and_warned():
    page = doc('<p data-bbox="1 1 100 100">a\x00b</p>')
    assert [b.text for b in page.blocks] == ["ab"] and any("control character" in w for w in page.warnings)
    g = ground('[{"bbox_2d": [10, 20, 300, 400], "label": "c\x00ar"}]')
    assert [d.label for d in g.detections] == ["car"] and any("control character" in w for w in g.warnings)


def test_a_recorded_answer_with_a_lone_surrogate_writes_every_output(tmp_path, cli):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    raw = tmp_path / "answers.jsonl"
    # json.dumps writes the escape \ud800; json.loads gives back a str no UTF-8 writer can encode
    raw.write_text(json.dumps({"page": 1, "output": '<h1 data-bbox="10 10 200 60">T\ud800</h1>'}) + "\n")
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", raw, "--json", "--md", "--raw",
              "-o", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    page = json.loads((tmp_path / "out" / "a.json").read_text(encoding="utf-8"))["pages"][0]
    assert page["blocks"][0]["text"] == "T\ufffd" and "\ud800" not in page["raw"]
    assert any("surrogate" in w for w in page["warnings"])


# -- nesting ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 5000])
def test_deeply_nested_html_is_a_page_failure_that_says_why(depth):
    text = "<html><body>" + "".join(f'<div data-bbox="1 1 9 9"><b>{i}' for i in range(depth)) + "</body></html>"
    page = doc(text)
    assert page.status == FAILED and "levels deep" in page.error


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000,
                                  '[{"bbox_2d": [1, 2, 3, 4], "label": ' + "[" * 3000 + "]" * 3000 + "}]",
                                  '{"a": ' * 900 + "1" + "}" * 900])
def test_deeply_nested_json_is_refused_with_a_warning_not_a_recursion_error(text):
    g = ground(text)
    assert g.detections == [] and any("nested more than" in w for w in g.warnings)


# -- code fences ------------------------------------------------------------------------------------------------


def test_a_code_fence_inside_the_content_is_content():
    answer = ('```html\n<html><body><pre data-bbox="10 10 500 200"><code class="language-python">'
              '```python\nprint("hi")\n```</code></pre><p data-bbox="10 220 500 260">After the code.</p>'
              '</body></html>\n```')
    page = doc(answer)
    assert page.status == OK, page.warnings
    assert [(b.type, b.text) for b in page.blocks] == [("code", '```python\nprint("hi")\n```'),
                                                       ("paragraph", "After the code.")]


def test_fence_lines_inside_the_content_nest():
    answer = ('Sure:\n```html\n<pre data-bbox="10 10 500 200">\n```python\nx = 1\n```\n</pre>\n'
              '<p data-bbox="10 220 500 260">Tail.</p>\n```\nHope this helps.')
    page = doc(answer)
    assert [b.text for b in page.blocks] == ["```python\nx = 1\n```", "Tail."]


# -- grounding: keys others use, repeated keys, escaped quotes, size -------------------------------------------


def test_labels_under_other_keys_are_taken_with_a_warning_per_guess():
    g = ground('[{"bbox_2d": [1, 2, 30, 40], "name": "a"}, {"bbox_2d": [50, 60, 70, 80], "name_en": "b"},'
               ' {"bbox_2d": [90, 90, 190, 190], "object_name": "c"},'
               ' {"bbox_2d": [200, 200, 300, 300], "names": {"zh": "狗", "en": "d"}}]')
    assert [d.label for d in g.detections] == ["a", "b", "c", "d"]
    for key in ("name", "name_en", "object_name", "names"):
        assert any(f"took the label from {key!r}" in w for w in g.warnings), key


def test_boxes_under_bbox_are_read_and_warned():
    g = ground('[{"bbox": [10, 20, 300, 400], "label": "car"}]')
    assert [d.label for d in g.detections] == ["car"] and any("under 'bbox'" in w for w in g.warnings)


def test_an_object_with_repeated_keys_gives_every_label_and_box():
    g = ground('[{"object_name": "monitor", "bbox": [10, 20, 300, 400], '
               '"object_name": "laptop", "bbox": [500, 100, 700, 300]}]')
    got = {d.label: d.bbox for d in g.detections}
    assert set(got) == {"monitor", "laptop"}
    assert got["monitor"] == pytest.approx([10 * 1000 / 1008, 20 * 600 / 588, 300 * 1000 / 1008, 400 * 600 / 588],
                                           abs=0.01)
    assert any("repeats its keys" in w for w in g.warnings)


def test_escaped_quotes_and_brackets_inside_json_strings():
    g = ground(r'Here: [{"bbox_2d": [10, 20, 300, 400], "label": "the \"big\" [car] {x}"},'
               r' {"bbox_2d": [500, 100, 700, 300], "label": "back\\slash"}] done')
    assert [d.label for d in g.detections] == ['the "big" [car] {x}', "back\\slash"]
    assert g.warnings == []
    # one escaped quote: a splitter that ends the string there would see the ] as closing the list
    g = ground(r'[{"bbox_2d": [10, 20, 300, 400], "label": "27\" monitor ]"}, {"bbox_2d": [500, 100, 700, 300], '
               r'"label": "b"}]')
    assert [d.label for d in g.detections] == ['27" monitor ]', "b"] and g.warnings == []
    # the same in an answer cut off at the token limit (the hand-written scanner finds the values then)
    g = ground(r'[{"bbox_2d": [10, 20, 300, 400], "label": "27\" monitor ]"}, {"bbox_2d": [500, 100, 70')
    assert [d.label for d in g.detections] == ['27" monitor ]'] and g.truncated


def test_grounding_answers_are_parsed_in_linear_time(monkeypatch):
    """Duplicate removal must not compare every box with every other (100,000 boxes took ~45 minutes)."""
    calls = 0
    real = grounding_mod._same

    def counting(a, b, tol):
        nonlocal calls
        calls += 1
        return real(a, b, tol)

    monkeypatch.setattr(grounding_mod, "_same", counting)
    n = 4000  # one label, boxes on a grid: every pair is a candidate for a quadratic scan (8 million calls)
    boxes = [[(i % 80) * 12, (i // 80) * 11, (i % 80) * 12 + 10, (i // 80) * 11 + 9] for i in range(n)]
    g = ground(json.dumps([{"bbox_2d": b, "label": "cell"} for b in boxes]), Q3, Frame(1000, 1000, 1024, 1024))
    assert len(g.detections) == n
    assert calls <= 20 * n, calls
    # near duplicates are still found through the index
    g = ground(json.dumps([{"bbox_2d": [100, 100, 500, 500], "label": "car"},
                           {"bbox_2d": [102, 101, 501, 499], "label": "Car"}]), Q3, Frame(1000, 1000, 1024, 1024))
    assert len(g.detections) == 1 and any("near duplicate" in w for w in g.warnings)


# -- recorded answer files ----------------------------------------------------------------------------------------


def _run_recorded(tmp_path, cli, content: bytes | str, *extra):
    pdf = make_pdf(tmp_path / "a.pdf", pages=2)
    raw = tmp_path / "answers.jsonl"
    raw.write_bytes(content if isinstance(content, bytes) else content.encode())
    return cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", raw, "--json", "-o", tmp_path / "out", *extra)


GOOD = '<html><body><h1 data-bbox="10 10 200 60">Title</h1><p data-bbox="10 80 300 120">Body</p></body></html>'


@pytest.mark.parametrize("lines, why", [
    ([{"page": 1, "output": GOOD}, "{not json"], "line 2: not JSON"),
    ([{"page": 1, "output": None}], "line 1: 'output' must be a string (got null)"),
    ([{"page": 1, "output": 42}], "line 1: 'output' must be a string (got 42)"),
    ([{"page": 1, "output": ["<p>x</p>"]}], "line 1: 'output' must be a string"),
    ([{"page": 1, "output": GOOD}, {"page": 1, "output": GOOD}], "line 2: page 1 is already on line 1"),
    ([{"page": 0, "output": GOOD}], "line 1: 'page' must be a page number from 1 (got 0)"),
    ([{"page": True, "output": GOOD}], "line 1: 'page' must be a page number from 1 (got true)"),
    ([{"page": 1, "output": GOOD}, {"page": 2}], "line 2: not an answer record"),
])
def test_a_bad_jsonl_answer_file_is_one_clear_error_naming_file_and_line(tmp_path, cli, lines, why):
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    res = _run_recorded(tmp_path, cli, text)
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith("vlparse: error: --from-output ") and why in res.stderr
    assert str(tmp_path / "answers.jsonl") in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_an_answer_file_that_is_not_utf8_is_refused_not_replaced(tmp_path, cli):
    res = _run_recorded(tmp_path, cli, b'<h1 data-bbox="10 10 200 60">Caf\xe9</h1>')
    assert res.exit_code == 2 and "not UTF-8 text (invalid byte 0xe9 at offset 32)" in res.stderr


def test_a_page_answer_directory_with_a_binary_file_is_refused(tmp_path):
    from vlparse.backends.recorded import load_recorded

    (tmp_path / "page-1.html").write_bytes(b"\xff\xfe\x00<p>")
    with pytest.raises(UsageError, match="page-1.html: not UTF-8"):
        load_recorded(str(tmp_path))


# -- prompt files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, why", [
    ("p.bin", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xd8", "is not UTF-8 text"),
    ("p.txt", b"Parse this page\x00 please", "holds NUL bytes"),
    ("p.toml", b'user = "QwenVL HTML\n', "is not valid TOML"),
    ("p.txt", b'system = "You parse documents."\nuser = "QwenVL HTML\n', "is not valid TOML"),
    ("p.toml", b'system = "only a system prompt"\n', "needs a 'user' string"),
])
def test_binary_or_broken_prompt_files_are_one_clear_error(tmp_path, cli, name, content, why):
    prompt = tmp_path / name
    prompt.write_bytes(content)
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    ans = tmp_path / "p.html"
    ans.write_text(GOOD)
    res = cli("doc", pdf, "--family", "qwen2.5-vl", "--from-output", ans, "--prompt-file", prompt, "-o", "-")
    assert res.exit_code == 2 and why in res.stderr, res.stderr
    assert res.stderr.startswith("vlparse: error: ") and len(res.stderr.strip().splitlines()) == 1


def test_a_plain_text_prompt_file_is_still_the_user_text(tmp_path):
    prompt = tmp_path / "p.txt"
    prompt.write_text("Read the page = carefully, as QwenVL HTML.\n")
    assert load_prompt(QWEN2_5_VL, "doc", prompt).user == "Read the page = carefully, as QwenVL HTML."


# -- the runner: best attempt, token limit, no swallowed bugs ------------------------------------------------


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, answer):
        self.family = QWEN2_5_VL
        self.answer = answer
        self.batch_size = 4

    def generate(self, requests):
        return [self.answer(r) for r in requests]


def _run(tmp_path, answer, retries=0):
    fam = QWEN2_5_VL
    task = Task("doc", fam, load_prompt(fam, "doc"), Decoding(256))
    cfg = RunConfig(task=task, budget=Budget(fam.default_min_pixels(), 200_000), retries=retries)
    pdf = str(make_pdf(tmp_path / "d.pdf", pages=1))
    return Runner(cfg, lambda: ScriptedBackend(answer)).run([pdf]).documents[0].results[1]


THREE = ('<html><body><h1 data-bbox="10 10 200 60">Title</h1><p data-bbox="10 80 300 120">One</p>'
         '<p data-bbox="10 130 300 170">Two</p><p data-bbox="10 180 300 2')


def test_retries_keep_the_best_attempt_not_the_last(tmp_path):
    def answer(r):  # first: truncated but with three blocks; the retry: nothing usable
        return Answer(r.key, THREE, "length") if r.max_new_tokens == 256 else Answer(r.key, "  ", "stop")

    page = _run(tmp_path, answer, retries=1)
    assert [a["status"] for a in page.attempts] == [TRUNCATED, FAILED]
    assert page.status == TRUNCATED and [b.text for b in page.blocks][:3] == ["Title", "One", "Two"]
    assert "kept attempt 1" in page.warnings[-1]


def test_a_well_formed_answer_that_hit_the_token_limit_is_truncated(tmp_path):
    page = _run(tmp_path, lambda r: Answer(r.key, GOOD, "length"))
    assert page.status == TRUNCATED and any("token limit" in w for w in page.warnings)
    g = Task("ground", Q25, load_prompt(Q25, "ground"), Decoding(64)).parse(
        '[{"bbox_2d": [10, 20, 300, 400], "label": "car"}]', "length", PageInfo("x.png", 1, GFRAME))
    assert g.status == TRUNCATED and len(g.detections) == 1


HOSTILE_ANSWERS = [
    "\ud800\udfff\ud800", "\x00" * 100, "<" * 5000, "<div>" * 3000 + "deep", "```html\n```python\n```",
    '<table><tr><td rowspan="99999999999999999999">x</td></tr></table>', "<p data-bbox='1e999 0 5 5'>x</p>",
    "<svg><script>alert(1)</script></svg>" * 50, "&#xd800;&#0;&#x110000;<p data-bbox='1 1 5 5'>&#xdfff;</p>",
]


@pytest.mark.parametrize("text", HOSTILE_ANSWERS)
def test_hostile_answers_never_raise_and_no_bug_is_swallowed_into_a_failed_page(tmp_path, text):
    page = _run(tmp_path, lambda r: Answer(r.key, text, "stop"))
    assert page.status in (OK, REPAIRED, TRUNCATED, FAILED, "repetition")
    assert no_internal_error(page.error, *page.warnings), (page.error, page.warnings)
    json.dumps(page.to_dict(), ensure_ascii=False).encode("utf-8")  # every output can be written


# -- Markdown carries no live link ------------------------------------------------------------------------------


def test_markdown_export_carries_no_live_link_from_model_text():
    from markdown_it import MarkdownIt

    from vlparse.export.markdown import page_markdown
    from vlparse.core.results import PageResult

    text = ("<html><body>"
            '<p data-bbox="1 1 100 10">[t]: http://evil.example/x</p>'
            '<p data-bbox="1 11 100 20">[click me][t] and [t] and ![pic][t]</p>'
            '<p data-bbox="1 21 100 30">[js]: javascript:alert(1)</p>'
            '<ul><li data-bbox="1 31 100 40">[u]: http://evil.example/u</li><li data-bbox="1 41 100 50">[u]</li></ul>'
            '<blockquote data-bbox="1 51 100 60">[q]: http://evil.example/q</blockquote>'
            '<p data-bbox="1 61 100 70">[q] &lt;https://evil.example/auto&gt; ![i](http://evil.example/i.png)</p>'
            '<h2 data-bbox="1 71 100 80">[h](javascript:alert(2)) www.evil.example</h2>'
            "</body></html>")
    page = doc(text)
    md = page_markdown(PageResult(PageInfo("doc.pdf", 1, FRAME25, kind="pdf"), page.status, page.warnings,
                                  page.blocks))
    html = MarkdownIt("commonmark").render(md)
    assert "<a " not in html and "<img" not in html, html
    for bare in ("http://", "https://", "www.evil"):  # GFM's autolink extension links these without brackets
        assert bare not in md, md
    assert "evil.example" in html  # the text itself is kept


def test_answers_for_pages_past_the_end_are_reported_not_silently_dropped(tmp_path, cli):
    lines = [{"page": n, "output": GOOD} for n in (1, 2, 7)]
    res = _run_recorded(tmp_path, cli, "".join(json.dumps(ln) + "\n" for ln in lines))
    assert res.exit_code == 0, res.stderr
    assert "1 answer(s) for pages past the end of the document, not used: page 7" in res.stderr
    assert "has 2)" in res.stderr
    res = _run_recorded(tmp_path, cli, "".join(json.dumps(ln) + "\n" for ln in lines[:2]), "--force")
    assert "past the end" not in res.stderr


def test_the_duplicate_index_finds_exactly_what_comparing_every_pair_finds():
    """The linear-time index must drop the same near duplicates as the plain pairwise scan."""
    import math
    import random

    from vlparse.core.results import Detection

    rnd = random.Random(7)
    dets = []
    for i in range(400):
        w, h = rnd.uniform(1, 300), rnd.uniform(1, 300)
        x, y = rnd.uniform(0, 700), rnd.uniform(0, 700)
        box = [x, y, x + w, y + h]
        dets.append(Detection(rnd.choice("ab"), box, None))
        for _ in range(rnd.randrange(3)):  # jittered copies: some within IoU 0.9, some not
            j = [v + rnd.uniform(-0.08, 0.08) * (w if k % 2 == 0 else h) for k, v in enumerate(box)]
            j = [min(j[0], j[2]), min(j[1], j[3]), max(j[0], j[2]), max(j[1], j[3])]
            dets.append(Detection(rnd.choice("aA"), j, None))
    rnd.shuffle(dets)
    tol = 2.0
    kept_pairwise = []
    for d in dets:
        if not any(grounding_mod._same(k, d, tol) for k in kept_pairwise):
            kept_pairwise.append(d)
    seen = grounding_mod._Seen(tol)
    for d in dets:
        if seen.find(d) is None:
            seen.add(d)
    assert len(kept_pairwise) < len(dets)  # the case has near duplicates to find
    assert [id(d) for d in seen.kept] == [id(d) for d in kept_pairwise]
    assert math.isfinite(len(seen.buckets))
