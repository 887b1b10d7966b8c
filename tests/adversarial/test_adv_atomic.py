"""Atomic writes, the exit codes of unreadable inputs, and the README's exit-code table."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from paced import FAMILY, answers_for, temp_files
from pdfs import make_pdf
from vlparse.core import errors
from vlparse.run.atomic import atomic_write, atomic_write_text, clean_stale_temps

pytestmark = pytest.mark.adversarial
README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_target_keeps_its_old_content_until_the_new_one_is_complete(tmp_path):
    """Would fail with a plain open(target, "w"): that truncates the target before the writer has written."""
    target = tmp_path / "out.json"
    target.write_text("old")
    seen = []

    def writer(f):
        f.write(b"new, part one; ")
        seen.append(target.read_text())  # what a reader (or a crash) would find now
        f.write(b"part two")

    atomic_write(target, writer)
    assert seen == ["old"] and target.read_text() == "new, part one; part two"


def test_a_writer_that_raises_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def writer(f):
        f.write(b"half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        atomic_write(target, writer)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_an_interrupt_inside_the_writer_leaves_no_temp_file(tmp_path):
    def writer(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.json", writer)
    assert os.listdir(tmp_path) == []


def test_the_written_file_gets_the_mode_a_plain_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_stale_temp_cleanup_removes_only_atomic_writes_temp_names(tmp_path):
    ours = [tmp_path / ".a.json.x1y2z3w4.tmp", tmp_path / ".page-0001.json.abcd_efg.tmp"]
    theirs = [tmp_path / "a.tmp", tmp_path / ".hidden.tmp", tmp_path / "b.json"]
    for f in ours + theirs:
        f.write_text("x")
    assert sorted(clean_stale_temps(tmp_path)) == sorted(ours)
    assert all(f.exists() for f in theirs)


def test_one_unreadable_input_alone_exits_2(tmp_path, cli):
    res = cli("doc", tmp_path / "nope.pdf", "--family", FAMILY, "--from-output", "-", "-o", tmp_path / "o/")
    assert res.exit_code == 2


def test_only_unreadable_inputs_exit_1(tmp_path, cli):
    (tmp_path / "b.pdf").write_text("not a PDF")
    res = cli("doc", tmp_path / "nope.pdf", tmp_path / "b.pdf", "--family", FAMILY, "--from-output", "-",
              "-o", tmp_path / "o/")
    assert res.exit_code == 1, res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.startswith("vlparse: error:")]) == 2


def test_several_inputs_one_unreadable_exit_1_and_the_others_are_done(tmp_path, cli):
    good = make_pdf(tmp_path / "good.pdf", pages=1)
    answers = answers_for(tmp_path / "answers.jsonl", 1)
    res = cli("doc", good, tmp_path / "nope.pdf", "--family", FAMILY, "--from-output", answers, "-o", tmp_path / "o")
    assert res.exit_code == 1, res.stderr
    assert (tmp_path / "o" / "good.json").exists() and not temp_files(tmp_path / "o")


def test_the_readme_exit_code_table_lists_every_exit_code():
    text = README.read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, re.M))
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert {int(k) for k in table} == codes
    assert "SIGTERM" in table["143"] and "closed" in table["141"]
