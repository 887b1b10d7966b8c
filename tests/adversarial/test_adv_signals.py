"""Signals, kill -9 and closed pipes, on runs whose pace the test controls (no model, no clock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from paced import FAMILY, Pace, finish, answers_for, manifest_pages, one_error_line, temp_files, vlparse
from pdfs import make_pdf

pytestmark = pytest.mark.adversarial

PAGES = 8


def _run(tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", pages=PAGES)
    answers = answers_for(tmp_path / "answers.jsonl", PAGES)
    out = tmp_path / "out"
    cmd = vlparse("doc", pdf, "-o", f"{out}/", "--json", "--md", "--family", FAMILY, "--from-output", answers,
                  "--batch-size", "1")
    return cmd, out


def _stop_after_two(tmp_path, sig):
    """Start the run, let pages 1 and 2 finish, send ``sig`` while page 3 waits: (process, stderr, cmd, out)."""
    cmd, out = _run(tmp_path)
    pace = Pace(tmp_path)
    pace.allow(1, 2)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pace.env)
    pace.wait_asked(3, proc)
    proc.send_signal(sig)
    _, err = finish(proc, 120)
    return proc, err, cmd, out, pace


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_keeps_finished_pages_one_line_and_its_exit_code(tmp_path, sig, code, word):
    proc, err, cmd, out, pace = _stop_after_two(tmp_path, sig)
    assert proc.returncode == code, err
    line = one_error_line(err)
    assert word in line and "finished pages are kept" in line
    assert manifest_pages(out) == [("long.pdf", 1), ("long.pdf", 2)]
    assert not (out / "long.json").exists() and not temp_files(out)
    pace.allow_all()
    p = subprocess.run(cmd, capture_output=True, text=True, env=pace.env, timeout=300)
    assert p.returncode == 0 and "2 already done" in p.stderr, p.stderr
    assert sorted(manifest_pages(out)) == [("long.pdf", n) for n in range(1, PAGES + 1)]


def test_kill_9_then_rerun_does_every_page_exactly_once(tmp_path):
    proc, err, cmd, out, pace = _stop_after_two(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert manifest_pages(out) == [("long.pdf", 1), ("long.pdf", 2)]
    assert not (out / "long.json").exists()
    pace.allow_all()
    p = subprocess.run(cmd, capture_output=True, text=True, env=pace.env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sorted(manifest_pages(out)) == [("long.pdf", n) for n in range(1, PAGES + 1)]
    doc = json.loads((out / "long.json").read_text())
    assert [pg["page"] for pg in doc["pages"]] == list(range(1, PAGES + 1))
    assert not temp_files(out)


def test_temp_files_of_a_kill_9_are_removed_by_the_next_run(tmp_path):
    proc, err, cmd, out, pace = _stop_after_two(tmp_path, signal.SIGKILL)
    state = next((out / ".vlparse").glob("long-*"))
    # what a run killed inside atomic_write leaves: a temp file per export and per page record
    left = [out / ".long.json.k1ll3d9x.tmp", state / ".page-0003.json.ab_cd123.tmp"]
    for f in left:
        f.write_text("half")
    mine = out / "notes.tmp"  # a user's file that merely ends in .tmp stays
    mine.write_text("keep me")
    pace.allow_all()
    p = subprocess.run(cmd, capture_output=True, text=True, env=pace.env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert not any(f.exists() for f in left)
    assert mine.read_text() == "keep me"


def test_closed_stdout_ends_quietly_with_141_and_keeps_finished_pages(tmp_path):
    """`vlparse doc … --jsonl | head -1`: the reader leaves after one line."""
    pdf = make_pdf(tmp_path / "long.pdf", pages=4)
    answers = answers_for(tmp_path / "answers.jsonl", 4)
    out = tmp_path / "out"
    pace = Pace(tmp_path)
    pace.allow(1)
    proc = subprocess.Popen(vlparse("doc", pdf, "-o", f"{out}/", "--jsonl", "--family", FAMILY, "--from-output",
                                    answers, "--batch-size", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=pace.env)
    first = proc.stdout.readline()  # what head -1 reads
    assert json.loads(first)["page"] == 1
    proc.stdout.close()  # ... and head exits
    pace.allow_all()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    assert "error" not in err.lower() and "Traceback" not in err and "Exception ignored" not in err, err
    assert manifest_pages(out)[:1] == [("long.pdf", 1)]


def test_head_1_in_a_shell_pipeline_exits_141(tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", pages=3)
    answers = answers_for(tmp_path / "answers.jsonl", 3)
    pace = Pace(tmp_path)
    pace.allow(1)
    # page 2 is answered only once head has gone: the write of page 2 meets a closed pipe every time
    script = (f"set -o pipefail; {' '.join(vlparse('doc', pdf, '--jsonl', '--family', FAMILY, '--from-output', answers, '--batch-size', '1'))}"
              f" | (head -1; touch {pace.dir}/go-all)")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=pace.env, timeout=120)
    assert p.returncode == 141, p.stderr
    assert json.loads(p.stdout)["page"] == 1
    assert p.stderr == "" or ("error" not in p.stderr.lower() and "Traceback" not in p.stderr), p.stderr


def test_readme_pipeline_rerun_after_ctrl_c_leaves_pages_jsonl_complete(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", pages=4)
    answers = answers_for(tmp_path / "answers.jsonl", 4)
    pace = Pace(tmp_path)
    pace.allow(1, 2)
    line = " ".join(vlparse("doc", "-", "-o", "out/", "--jsonl", "--family", FAMILY, "--from-output", answers,
                            "--batch-size", "1"))
    script = f"echo {pdf} | {line} > pages.jsonl"
    proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=pace.env, stderr=subprocess.PIPE,
                            start_new_session=True)
    pace.wait_asked(3, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole pipeline
    finish(proc, 120)
    pace.allow_all()
    for _ in range(2):  # after the Ctrl-C, and again after a complete run
        p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=pace.env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in (tmp_path / "pages.jsonl").read_text().splitlines()]
        assert sorted(x["page"] for x in lines) == [1, 2, 3, 4]
        # the made-up answers do not match the PDF's text layer, so verification marks them suspect (not failed)
        assert all(x["status"] in ("ok", "suspect") for x in lines)
    assert all(x.get("resumed") is True for x in lines)  # the last run redid nothing: every line says so
    assert sorted(manifest_pages(tmp_path / "out")) == [("a.pdf", n) for n in range(1, 5)]
