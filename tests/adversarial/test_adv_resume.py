"""Resume and concurrent runs on one -o DIR: what counts as done, the run lock, unchanged exports, duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from paced import FAMILY, Pace, finish, answers_for, manifest_pages, one_error_line, vlparse
from pdfs import make_pdf
from vlparse.core.results import SCHEMA_VERSION

pytestmark = pytest.mark.adversarial


@pytest.fixture
def run(tmp_path, cli):
    """``run(*extra)``: doc over a 2-page a.pdf into out/ with recorded answers; returns the CliResult."""
    pdf = make_pdf(tmp_path / "a.pdf", pages=2)
    answers = answers_for(tmp_path / "answers.jsonl", 2)

    def go(*extra, inputs=(pdf,)):
        return cli("doc", *inputs, "--family", FAMILY, "--from-output", answers, "-o", tmp_path / "out", "--json",
                   *extra)

    return go


def test_force_redoes_finished_pages(run):
    assert run().exit_code == 0
    res = run("--force")
    assert res.exit_code == 0 and "2 page(s) done" in res.stderr and "already done" not in res.stderr


def test_a_changed_prompt_redoes_the_pages(run, tmp_path):
    assert run().exit_code == 0
    prompt = tmp_path / "prompt.toml"
    prompt.write_text('user = "Parse this page into QwenVL HTML, please."\n')
    res = run("--prompt-file", prompt)
    assert res.exit_code == 0 and "2 page(s) done" in res.stderr and "already done" not in res.stderr, res.stderr


def test_a_changed_input_with_the_same_name_is_redone(run, tmp_path):
    assert run().exit_code == 0
    pdf = tmp_path / "a.pdf"
    st = os.stat(pdf)
    make_pdf(pdf, pages=2, size=(612, 792))  # another document under the same name
    os.utime(pdf, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    res = run()
    assert res.exit_code == 0 and "already done" not in res.stderr, res.stderr
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    assert doc["pages"][0]["width_pt"] == 612


def test_ground_dir_redoes_pages_when_the_dpi_changes(tmp_path, cli):
    from PIL import Image

    img = tmp_path / "shapes.png"
    Image.new("RGB", (400, 300), "white").save(img)
    pdf = make_pdf(tmp_path / "p.pdf", pages=1)
    ans = tmp_path / "a.txt"
    ans.write_text('[{"bbox_2d": [10, 10, 50, 50], "label": "box"}]')
    base = ("ground", pdf, img, "box", "--family", FAMILY, "--from-output", ans, "-o", tmp_path / "g")
    assert cli(*base, "--dpi", "72").exit_code == 0
    res = cli(*base, "--dpi", "100")
    assert "already done" not in res.stderr, res.stderr
    assert "already done" in cli(*base, "--dpi", "100").stderr


def test_records_carry_the_schema_version_and_other_versions_are_redone(run, tmp_path):
    assert run().exit_code == 0
    out = tmp_path / "out"
    records = list((out / ".vlparse").glob("*/page-*.json"))
    assert len(records) == 2
    for r in records:
        data = json.loads(r.read_text())
        assert data["schema_version"] == SCHEMA_VERSION and data["input"]["size"] == (tmp_path / "a.pdf").stat().st_size
    assert all(json.loads(x)["schema_version"] == SCHEMA_VERSION for x in (out / "manifest.jsonl").read_text().splitlines())
    data = json.loads(records[0].read_text())
    data["schema_version"] = SCHEMA_VERSION + 1  # written by a newer vlparse: not understood, redone
    records[0].write_text(json.dumps(data))
    res = run()
    assert "1 page(s) done" in res.stderr and "1 already done" in res.stderr, res.stderr


def test_the_same_file_given_twice_is_processed_once(tmp_path, cli):
    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    (tmp_path / "link.pdf").symlink_to(pdf)
    os.link(pdf, tmp_path / "hard.pdf")
    answers = answers_for(tmp_path / "answers.jsonl", 1)
    spellings = [pdf, f"{tmp_path}/./a.pdf", tmp_path / "link.pdf", tmp_path / "hard.pdf", tmp_path]
    res = cli("doc", *spellings, "--family", FAMILY, "--from-output", answers, "-o", tmp_path / "out", "--jsonl")
    assert res.exit_code == 0, res.stderr
    assert len(res.stdout.splitlines()) == 1
    assert len(manifest_pages(tmp_path / "out")) == 1


@pytest.mark.parametrize("fmt", ["--json", "--md", "--html", "--review", "--searchable-pdf", "--raw"])
def test_a_rerun_with_nothing_to_redo_leaves_exports_untouched(run, tmp_path, fmt):
    assert run(fmt).exit_code == 0
    out = tmp_path / "out"
    files = [f for f in out.iterdir() if f.is_file() and f.name != "manifest.jsonl"]
    old = 1_000_000_000
    for f in files:
        os.utime(f, (old, old))
    res = run(fmt)
    assert res.exit_code == 0 and "2 already done" in res.stderr
    assert {f.name: f.stat().st_mtime for f in files} == {f.name: old for f in files}


def test_a_rerun_with_nothing_to_redo_leaves_overlays_and_ground_files_untouched(run, tmp_path, cli):
    from PIL import Image

    assert run("--overlay", tmp_path / "ov").exit_code == 0
    img = tmp_path / "shapes.png"
    Image.new("RGB", (400, 300), "white").save(img)
    ans = tmp_path / "g.jsonl"
    ans.write_text("".join(json.dumps({"page": n, "output": '[{"bbox_2d": [10, 10, 50, 50], "label": "box"}]'})
                           + "\n" for n in (1, 2)))
    ground = ("ground", img, tmp_path / "a.pdf", "box", "--family", FAMILY, "--from-output", ans, "-o", tmp_path / "g")
    assert cli(*ground).exit_code == 0
    files = [*(tmp_path / "ov").iterdir(), *(f for f in (tmp_path / "g").iterdir() if f.suffix == ".json")]
    assert len(files) == 5  # 2 overlays; shapes.json, a-p1.json, a-p2.json
    old = 1_000_000_000
    for f in files:
        os.utime(f, (old, old))
    assert "2 already done" in run("--overlay", tmp_path / "ov").stderr
    assert "already done" in cli(*ground).stderr
    assert {f.name: f.stat().st_mtime for f in files} == {f.name: old for f in files}


def _paced_holder(tmp_path):
    """A run on out/ that holds the directory while it waits for its first answer."""
    pdf = make_pdf(tmp_path / "a.pdf", pages=2)
    answers = answers_for(tmp_path / "answers.jsonl", 2)
    out = tmp_path / "out"
    pace = Pace(tmp_path)
    cmd = vlparse("doc", pdf, "--family", FAMILY, "--from-output", answers, "-o", f"{out}/", "--batch-size", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pace.env)
    pace.wait_asked(1, proc)
    return proc, cmd, out, pace


def test_a_second_run_on_the_same_dir_refuses_naming_the_live_pid(tmp_path):
    proc, cmd, out, pace = _paced_holder(tmp_path)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=pace.env, timeout=120)
        assert p.returncode == 2
        line = one_error_line(p.stderr)
        assert f"PID {proc.pid}" in line and "--wait" in line
    finally:
        pace.allow_all()
        finish(proc, 120)
    assert proc.returncode == 0
    assert sorted(manifest_pages(out)) == [("a.pdf", 1), ("a.pdf", 2)]  # no page recorded twice


def test_wait_waits_for_the_first_run_and_redoes_nothing(tmp_path):
    proc, cmd, out, pace = _paced_holder(tmp_path)
    second = subprocess.Popen(cmd + ["--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=pace.env)
    pace.allow_all()
    finish(proc, 120)
    _, err = finish(second, 120)
    assert proc.returncode == 0 and second.returncode == 0, err
    assert "2 already done" in err  # it ran once the first had finished (the first held out/ before it started)
    assert sorted(manifest_pages(out)) == [("a.pdf", 1), ("a.pdf", 2)]


def test_the_lock_does_not_outlive_a_kill_9_of_its_holder(tmp_path):
    proc, cmd, out, pace = _paced_holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    finish(proc, 60)
    pace.allow_all()
    p = subprocess.run(cmd, capture_output=True, text=True, env=pace.env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert sorted(manifest_pages(out)) == [("a.pdf", 1), ("a.pdf", 2)]
