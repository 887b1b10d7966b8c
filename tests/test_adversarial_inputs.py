"""Hostile inputs: odd file names, links, permissions, PDFs that are not what they claim, odd /Rotate
values, multi-page TIFFs. Each is processed correctly or is one clear line (and the documented exit code).

Permission tests: CI runs as root, for whom ``chmod 000`` hides nothing. They run the CLI as the
unprivileged user 65534 through ``setpriv`` (skipped with a reason where that is impossible).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from pdfs import make_pdf

pytestmark = pytest.mark.adversarial

ROOT = Path(__file__).resolve().parent.parent
ANSWER = ROOT / "tests" / "data" / "doc" / "q25_clean.html"
RUN = ("doc", "--family", "qwen2.5-vl", "--from-output", str(ANSWER))


def _manifest(out: Path) -> list[dict]:
    return [json.loads(ln) for ln in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


# -- file names ----------------------------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_read_and_written_back(tmp_path, cli):
    make_pdf(tmp_path / "x.pdf", pages=1)
    name = os.fsdecode(b"caf\xe9.pdf")  # what Python makes of such an argv entry: a surrogate escape
    os.rename(tmp_path / "x.pdf", tmp_path / name)
    res = cli(*RUN, "--json", "-o", tmp_path / "out", tmp_path / name)
    assert res.exit_code == 0, res.stderr
    entry = _manifest(tmp_path / "out")[0]
    assert entry["source"] == str(tmp_path / name) and entry["status"] in ("ok", "suspect")  # \udce9 round-trips (the made-up answer is suspect against the text layer)
    assert b"caf\xe9.json" in os.listdir(os.fsencode(tmp_path / "out"))


def test_file_names_with_newlines_and_a_leading_dash(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_pdf(tmp_path / "two\nlines.pdf", pages=1)
    make_pdf(tmp_path / "-dash.pdf", pages=1)
    res = cli(*RUN, "--json", "-o", "out", "--", "-dash.pdf", "two\nlines.pdf")
    assert res.exit_code == 0, res.stderr
    assert sorted(e["source"] for e in _manifest(tmp_path / "out")) == ["-dash.pdf", "two\nlines.pdf"]
    # a NUL-separated list on stdin (find -print0) keeps the newline in the name
    res = cli(*RUN, "--json", "-o", "out2", "-", stdin="two\nlines.pdf\0-dash.pdf\0")
    assert res.exit_code == 0, res.stderr
    assert sorted(e["source"] for e in _manifest(tmp_path / "out2")) == ["-dash.pdf", "two\nlines.pdf"]


def test_a_symlink_loop_is_named_as_one(tmp_path, cli):
    os.symlink(tmp_path / "b.pdf", tmp_path / "a.pdf")
    os.symlink(tmp_path / "a.pdf", tmp_path / "b.pdf")
    res = cli(*RUN, "-o", "-", tmp_path / "a.pdf")
    assert res.exit_code == 2 and "a.pdf: a symbolic link loop" in res.stderr, res.stderr
    # inside a directory it is one of the inputs that failed: reported, not skipped
    make_pdf(tmp_path / "good.pdf", pages=1)
    res = cli(*RUN, "--json", "-o", tmp_path / "out", tmp_path)
    assert res.exit_code == 1, res.stderr
    assert "a.pdf: a symbolic link loop" in res.stderr and "b.pdf: a symbolic link loop" in res.stderr
    assert (tmp_path / "out" / "good.json").is_file()


# -- permissions (as an unprivileged user) -------------------------------------------------------------------


@pytest.fixture
def as_nobody():
    """(shared directory, run(args) -> CompletedProcess) running ``vlparse`` as uid/gid 65534."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot be tested")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        prefix = []
    base = Path(tempfile.mkdtemp(prefix="vlparse-perm-"))
    base.chmod(0o777)
    env = {**os.environ, "HOME": str(base)}

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "vlparse", *map(str, args)], cwd=base, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)

    probe = subprocess.run([*prefix, sys.executable, "-c", "import vlparse"], capture_output=True, cwd=base, env=env)
    if probe.returncode != 0:
        shutil.rmtree(base)
        pytest.skip(f"uid 65534 cannot import vlparse here: {probe.stderr.decode()[-200:]}")
    yield base, run
    for d in base.rglob("*"):
        if d.is_dir():
            d.chmod(0o755)
    shutil.rmtree(base)


def test_an_unreadable_file_says_permission_denied(as_nobody):
    base, run = as_nobody
    pdf = make_pdf(base / "secret.pdf", pages=1)
    pdf.chmod(0o600)  # root's; 65534 cannot read it
    res = run(*RUN, "-o", "-", pdf)
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines()[0] == f"vlparse: error: {pdf}: permission denied"
    assert "not a" not in res.stderr


def test_an_unreadable_subdirectory_under_recursive_is_reported_not_skipped(as_nobody):
    base, run = as_nobody
    (base / "docs" / "open").mkdir(parents=True)
    (base / "docs" / "closed").mkdir()
    make_pdf(base / "docs" / "open" / "a.pdf", pages=1)
    make_pdf(base / "docs" / "closed" / "b.pdf", pages=1)
    for d in (base / "docs", base / "docs" / "open"):
        d.chmod(0o777)
    (base / "docs" / "open" / "a.pdf").chmod(0o644)
    (base / "docs" / "closed").chmod(0o700)
    res = run(*RUN, "--json", "-o", base / "out", base / "docs", "--recursive")
    assert res.returncode == 1, res.stderr
    assert f"{base / 'docs' / 'closed'}: permission denied" in res.stderr
    assert (base / "out" / "a.json").is_file()
    res = run(*RUN, "--json", "-o", base / "out2", base / "docs" / "closed")
    assert res.returncode == 2 and "closed: permission denied" in res.stderr, res.stderr


# -- not what the name says --------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, what", [
    ("<!DOCTYPE html><html><body><h1>Report</h1></body></html>", "an HTML page"),
    ("Quarterly report\nRevenue grew.\n" * 20, "a text file"),
])
def test_a_non_pdf_with_a_pdf_name_is_refused_not_rendered(tmp_path, cli, content, what):
    (tmp_path / "report.pdf").write_text(content)
    res = cli(*RUN, "-o", "-", tmp_path / "report.pdf")
    assert res.exit_code == 2 and f"not a PDF: named .pdf, but it is {what}" in res.stderr, res.stderr


def test_a_pdf_mupdf_had_to_repair_is_flagged_everywhere(tmp_path, cli):
    good = make_pdf(tmp_path / "good.pdf", pages=1).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(good[:-200])  # the xref table and trailer are gone
    res = cli(*RUN, "--json", "-o", tmp_path / "out", tmp_path / "cut.pdf")
    assert res.exit_code == 0, res.stderr
    assert "cut.pdf: MuPDF had to repair this PDF" in res.stderr
    assert any(e.get("status") == "warning" and "repair" in e.get("warning", "") for e in _manifest(tmp_path / "out"))
    page = json.loads((tmp_path / "out" / "cut.json").read_text())["pages"][0]
    assert page["status"] == "repaired" and "MuPDF had to repair" in page["warnings"][0]


# -- /Rotate -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [("45", 90), ("135", 180), ("44", 0), ("-45", 0), ("-46", 270), ("225", 270),
                                        ("400", 0), ("270.5", 270), ("-90", 270)])
def test_rotate_values_off_the_90_grid_are_rendered_and_reported_as_viewers_show_them(tmp_path, cli, raw, shown):
    pdf = make_pdf(tmp_path / "r.pdf", pages=1)  # 595 x 842 pt, portrait
    d = pymupdf.open(str(pdf))
    d.xref_set_key(d[0].xref, "Rotate", raw)
    d.save(str(tmp_path / "odd.pdf"))
    res = cli(*RUN, "--json", "-o", tmp_path / "out.json", tmp_path / "odd.pdf")
    assert res.exit_code == 0, res.stderr
    page = json.loads((tmp_path / "out.json").read_text())["pages"][0]
    assert page["rotation"] == shown
    landscape = shown in (90, 270)
    assert (page["width_pt"], page["height_pt"]) == ((842, 595) if landscape else (595, 842))
    assert (page["width_px"] > page["height_px"]) == landscape
    if float(raw) % 90:
        assert any(f"/Rotate {raw}" in w for w in page["warnings"])
    # MuPDF renders it the same way: the page image vlparse rendered is what a viewer shows
    with pymupdf.open(str(tmp_path / "odd.pdf")) as shown_doc:
        assert (shown_doc[0].rect.width > shown_doc[0].rect.height) == landscape


# -- multi-page TIFFs --------------------------------------------------------------------------------------------


def _tiff(path: Path, sizes) -> Path:
    frames = [Image.new("RGB", s, (255, 255, 255)) for s in sizes]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def _answers(tmp_path: Path, pages: int) -> Path:
    d = tmp_path / "answers"
    d.mkdir()
    for n in range(1, pages + 1):
        (d / f"page-{n}.html").write_text(ANSWER.read_text())
    return d


def test_a_multipage_tiff_honours_the_page_selection(tmp_path, cli):
    tif = _tiff(tmp_path / "scan.tiff", [(200, 300), (210, 310), (220, 320)])
    res = cli("doc", "--family", "qwen2.5-vl", "--from-output", _answers(tmp_path, 3), "--json", "--pages", "2-3", "-o", tmp_path / "out.json", tif)
    assert res.exit_code == 0, res.stderr
    pages = json.loads((tmp_path / "out.json").read_text())["pages"]
    assert [(p["page"], p["width_px"]) for p in pages] == [(2, 210), (3, 220)]


def test_every_tiff_frame_passes_the_decompression_bomb_guard(tmp_path, cli, monkeypatch):
    from vlparse.pages import render

    monkeypatch.setattr(render, "MAX_IMAGE_PIXELS", 100_000)
    tif = _tiff(tmp_path / "scan.tiff", [(200, 300), (400, 400), (200, 300)])  # frame 2: 160,000 px
    res = cli("doc", "--family", "qwen2.5-vl", "--from-output", _answers(tmp_path, 3), "--json", "-o",
              tmp_path / "out.json", tif)
    assert res.exit_code == 1, res.stderr
    pages = json.loads((tmp_path / "out.json").read_text())["pages"]
    assert [p["status"] for p in pages] == ["repaired", "failed", "repaired"]
    assert "decompression-bomb guard" in pages[1]["error"]


# -- options checked before any work ----------------------------------------------------------------------------


def test_answers_and_paths_cannot_both_come_from_stdin(tmp_path, cli):
    res = cli(*RUN[:3], "--from-output", "-", "-o", "-", "-", stdin=str(make_pdf(tmp_path / "a.pdf", pages=1)))
    assert res.exit_code == 2 and "--from-output - and the input '-' both read standard input" in res.stderr


@pytest.mark.parametrize("args, why", [
    (["--coco", "{d}/"], "--coco takes a file name"),
    (["--coco", "{d}"], "--coco takes a file name"),
    (["--overlay", "{f}"], "--overlay takes a directory"),
])
def test_ground_export_paths_of_the_wrong_kind_are_refused_before_any_work(tmp_path, cli, args, why):
    existing = tmp_path / "exists.txt"
    existing.write_text("x")
    args = [a.format(d=tmp_path, f=existing) for a in args]
    res = cli("ground", str(ROOT / "examples" / "shapes.png"), "red car", "--family", "qwen3-vl", "--from-output",
              str(ROOT / "examples" / "answers" / "qwen3-vl" / "shapes-ground.txt"), *args)
    assert res.exit_code == 2 and why in res.stderr, res.stderr
    assert "page(s) done" not in res.stderr and existing.read_text() == "x"


def test_no_network_and_no_local_model_is_one_error_at_once(tmp_path, cli, monkeypatch):
    """One probe of the Hub, then offline mode: not five retries with back-off before the same error."""
    import socket

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))  # nothing cached
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache" / "hub"))
    lookups = []

    def no_dns(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    res = cli("doc", make_pdf(tmp_path / "a.pdf", pages=1), "--model", "Qwen/Qwen2.5-VL-3B-Instruct", "-o", "-")
    assert res.exit_code == 3, res.stderr
    assert "not in the local Hugging Face cache" in res.stderr and "Retrying" not in res.stderr
    assert len(lookups) == 1, lookups  # the probe only


def test_max_pixels_beyond_what_can_be_rendered_is_refused_up_front(tmp_path, cli):
    res = cli(*RUN, "--max-pixels", "999999999999", "-o", "-", make_pdf(tmp_path / "a.pdf", pages=1))
    assert res.exit_code == 2 and "pixel budgets above 179,000,000 pixels are not supported" in res.stderr
    assert "page(s) done" not in res.stderr
