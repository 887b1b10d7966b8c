"""-o on hostile targets: devices, FIFOs, sockets, symlinks, read-only directories, a full disk, failing exports."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from paced import FAMILY, Pace, finish, answers_for, manifest_pages, one_error_line, temp_files, vlparse
from pdfs import make_pdf

pytestmark = pytest.mark.adversarial


def _doc(cli, pdf, answers, *args):
    return cli("doc", pdf, "--family", FAMILY, "--from-output", answers, *args)


@pytest.fixture
def one_page(tmp_path):
    return make_pdf(tmp_path / "a.pdf", pages=1), answers_for(tmp_path / "answers.jsonl", 1)


def test_o_fifo_is_written_in_place_not_renamed_over(tmp_path, cli, one_page):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    res = _doc(cli, *one_page, "-o", fifo)
    reader.join(timeout=60)
    assert res.exit_code == 0, res.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO
    assert json.loads(got[0])["pages"][0]["page"] == 1


def test_o_device_node_is_written_in_place_not_renamed_over(tmp_path, cli, one_page):
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs root (CI runs as root)")
    res = _doc(cli, *one_page, "-o", dev)
    assert res.exit_code == 0, res.stderr
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    assert not temp_files(tmp_path)


def test_o_socket_is_refused_with_one_line(cli, one_page):
    d = tempfile.mkdtemp(dir="/tmp")  # a short path: socket names are limited to ~107 bytes
    try:
        path = os.path.join(d, "s.json")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        res = _doc(cli, *one_page, "-o", path)
        assert res.exit_code == 1
        assert "s.json" in one_error_line(res.stderr) and "socket" in res.stderr
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        srv.close()
    finally:
        shutil.rmtree(d)


def test_o_symlink_is_followed_never_clobbered(tmp_path, cli, one_page):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "result.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    res = _doc(cli, *one_page, "-o", link)
    assert res.exit_code == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["pages"][0]["page"] == 1
    assert not temp_files(tmp_path)


def test_o_dangling_symlink_creates_its_target(tmp_path, cli, one_page):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "new.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    res = _doc(cli, *one_page, "-o", link)
    assert res.exit_code == 0, res.stderr
    assert link.is_symlink() and json.loads(target.read_text())["pages"]


def test_o_symlink_loop_is_one_line_exit_1(tmp_path, cli, one_page):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    res = _doc(cli, *one_page, "-o", loop)
    assert res.exit_code == 1
    assert "loop.json" in one_error_line(res.stderr)
    assert loop.is_symlink()


def _world_dir() -> Path:
    d = Path(tempfile.mkdtemp(dir="/tmp"))
    d.chmod(0o755)
    return d


def _as_nobody(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() != 0:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a chmod-only permission test would check nothing")
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd],
                          capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.parametrize("target", ["out/", "a.json"])
def test_read_only_directory_is_one_line_naming_the_path_exit_1(target):
    d = _world_dir()
    try:
        pdf = make_pdf(d / "a.pdf", pages=1)
        answers = answers_for(d / "answers.jsonl", 1)
        ro = d / "ro"
        ro.mkdir()
        for p in (pdf, answers):
            p.chmod(0o644)
        ro.chmod(0o555)
        p = _as_nobody(vlparse("doc", pdf, "--family", FAMILY, "--from-output", answers, "-o", f"{ro}/{target}"))
        assert p.returncode == 1, p.stderr
        line = one_error_line(p.stderr)
        assert str(ro) in line and "Permission denied" in line
        assert list(ro.iterdir()) == []
    finally:
        shutil.rmtree(d)


def test_full_disk_tmpfs_is_one_line_exit_1_and_no_temp_file(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a real full disk needs a tmpfs mounted in `unshare -m` (root); the injected ENOSPC test "
                    "covers the same path")
    pdf = make_pdf(tmp_path / "a.pdf", pages=2)
    big = "<p data-bbox=\"10 10 500 40\">" + "All work and no play. " * 3000 + "</p>"
    answers = answers_for(tmp_path / "answers.jsonl", 2, big)
    mnt = tmp_path / "small"
    mnt.mkdir()
    cmd = " ".join(vlparse("doc", pdf, "--family", FAMILY, "--from-output", answers, "-o", f"{mnt}/out/", "--md"))
    script = (f"mount -t tmpfs -o size=96k tmpfs {mnt} || exit 77; {cmd}; echo rc=$?; "
              f"find {mnt} -name '*.tmp' | sed 's/^/tmp: /'")
    p = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True, text=True, timeout=120)
    if p.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    assert "rc=1" in p.stdout, (p.stdout, p.stderr)
    line = one_error_line(p.stderr)
    assert str(mnt) in line and "No space left on device" in line
    assert "tmp: " not in p.stdout


def test_injected_enospc_stops_the_run_with_one_line_naming_the_export(tmp_path, cli, monkeypatch):
    from vlparse.run import atomic

    pdfs = [make_pdf(tmp_path / f"{n}.pdf", pages=1) for n in ("a", "b")]
    answers = answers_for(tmp_path / "answers.jsonl", 1)
    real = atomic._fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(".a.md."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(atomic, "_fsync", fsync)
    out = tmp_path / "out"
    res = cli("doc", *pdfs, "--family", FAMILY, "--from-output", answers, "-o", out, "--md")
    assert res.exit_code == 1
    line = one_error_line(res.stderr)
    assert "a.md" in line and "No space left on device" in line
    assert not temp_files(out) and not (out / "a.md").exists()
    assert ("a.pdf", 1) in manifest_pages(out)  # the finished page is kept: a rerun after freeing space resumes


def test_one_documents_export_failure_is_isolated_like_a_page_failure(tmp_path, cli, monkeypatch):
    from vlparse.export import markdown

    real = markdown.render_markdown

    def render(doc):
        if doc.source.endswith("bad.pdf"):
            raise ValueError("the exporter choked")
        return real(doc)

    monkeypatch.setattr(markdown, "render_markdown", render)
    pdfs = [make_pdf(tmp_path / f"{n}.pdf", pages=1) for n in ("bad", "good")]
    answers = answers_for(tmp_path / "answers.jsonl", 1)
    out = tmp_path / "out"
    res = cli("doc", *pdfs, "--family", FAMILY, "--from-output", answers, "-o", out, "--md")
    assert res.exit_code == 1
    line = one_error_line(res.stderr)
    assert "bad.pdf" in line and "the exporter choked" in line
    assert (out / "good.md").exists() and not (out / "bad.md").exists()
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert any(m["page"] is None and m["source"].endswith("bad.pdf") and m["status"] == "failed" for m in manifest)


def test_an_input_changed_after_its_pages_were_generated_is_isolated(tmp_path):
    a = make_pdf(tmp_path / "a.pdf", pages=1)
    b = make_pdf(tmp_path / "b.pdf", pages=1)
    answers = answers_for(tmp_path / "answers.jsonl", 1)
    out = tmp_path / "out"
    pace = Pace(tmp_path)
    proc = subprocess.Popen(vlparse("doc", a, b, "--family", FAMILY, "--from-output", answers, "-o", out,
                                    "--searchable-pdf", "--batch-size", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pace.env)
    pace.wait_asked(1, proc)
    a.write_bytes(b"<html>not a PDF any more</html>\n")  # replaced while its page was with the model
    pace.allow_all()
    _, err = finish(proc, 120)
    assert proc.returncode == 1, err
    assert "a.pdf" in one_error_line(err)
    assert (out / "b.searchable.pdf").exists() and not (out / "a.searchable.pdf").exists()
    assert not temp_files(out)
