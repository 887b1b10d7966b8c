"""vlparse as OCRmyPDF's OCR engine, with the real ocrmypdf package, recorded answers, and no Tesseract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import readme_examples

ocrmypdf = pytest.importorskip("ocrmypdf", reason="the ocrmypdf extra is not installed (pip install '.[ocrmypdf]')")
pymupdf = pytest.importorskip("pymupdf")

from vlparse.core.families import REL1000, get_family  # noqa: E402
from vlparse.core.geometry import Budget, model_size  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = (576, 792)  # 8 x 11 inches: at 300 dpi exactly 2400 x 3300 pixels, far above the model's budget
DPI = 300
LINES = [((72, 100), "Revenue Forecast", 24), ((72, 160), "The quick brown fox jumps over the lazy dog.", 12),
         ((300, 600), "Appendix signature", 14)]


def _page_text(page):
    for (x, y), text, size in LINES:
        page.insert_text((x, y), text, fontsize=size)


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[Path, dict[str, tuple]]:
    """An image-only PDF (a 'scan' made here) and where each line's words are printed, in points."""
    root = tmp_path_factory.mktemp("scan")
    src = pymupdf.open()
    page = src.new_page(width=PAGE[0], height=PAGE[1])
    _page_text(page)
    where = {text: tuple(page.search_for(text)[0]) for _, text, _ in LINES}
    where.update({w: tuple(page.search_for(w)[0]) for w in ("Forecast", "lazy", "signature")})
    pix = page.get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY)
    out = pymupdf.open()
    p = out.new_page(width=PAGE[0], height=PAGE[1])
    p.insert_image(p.rect, pixmap=pix)
    path = root / "scan.pdf"
    out.save(path)
    assert not out[0].get_text().strip()  # no text layer: a scan
    return path, where


def _answer(family: str, where: dict[str, tuple]) -> str:
    """A QwenVL HTML answer boxing each printed line, in the family's coordinate space for the image the
    plugin sends (OCRmyPDF rasterises this scan at its 300 dpi: 2400 x 3300, resized by vlparse's geometry)."""
    fam = get_family(family)
    w, h = PAGE[0] * DPI // 72, PAGE[1] * DPI // 72
    mw, mh = model_size(fam, w, h, Budget(fam.default_min_pixels(), fam.default_max_pixels("doc")))

    def box(r):
        if fam.coords == REL1000:
            sx, sy = 1000 / PAGE[0], 1000 / PAGE[1]
        else:
            sx, sy = mw / PAGE[0], mh / PAGE[1]
        return " ".join(str(round(v)) for v in (r[0] * sx, r[1] * sy, r[2] * sx, r[3] * sy))

    (head, para, sig) = (t for _, t, _ in LINES)
    return ("```html\n<html><body>\n"
            f'<h1 data-bbox="{box(where[head])}">{head}</h1>\n'
            f'<p data-bbox="{box(where[para])}">{para}</p>\n'
            f'<p data-bbox="{box(where[sig])}">{sig}</p>\n'
            "</body></html>\n```\n")


def _run_ocrmypdf(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``ocrmypdf ARGS`` with only this venv's scripts on PATH: no tesseract (nor ghostscript) to be found."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    assert shutil.which("tesseract", path=env["PATH"]) is None
    return subprocess.run([sys.executable, "-m", "ocrmypdf", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _inside(hit, rect, tol=3.0) -> bool:
    cx, cy = (hit[0] + hit[2]) / 2, (hit[1] + hit[3]) / 2
    return rect[0] - tol <= cx <= rect[2] + tol and rect[1] - tol <= cy <= rect[3] + tol


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_a_scan_becomes_searchable_where_the_words_are(scan, tmp_path, family):
    path, where = scan
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "page-1.html").write_text(_answer(family, where))
    out = tmp_path / "out.pdf"
    p = _run_ocrmypdf(["--plugin", "vlparse.ocrmypdf", "--vlparse-family", family, "--vlparse-from-output",
                       str(answers), str(path), str(out)], tmp_path)
    assert p.returncode == 0, p.stderr
    with pymupdf.open(out) as doc:
        page = doc[0]
        text = page.get_text()
        for _, line, _ in LINES:
            assert line in " ".join(text.split())
        for word in ("Revenue", "Forecast", "quick", "lazy", "signature"):
            hits = page.search_for(word)
            assert len(hits) == 1, (word, hits)
            truth = next(r for t, r in where.items() if word == t or word in t.split())
            assert _inside(tuple(hits[0]), where.get(word, truth)), (word, hits[0], where.get(word, truth))
        # the page still shows the scan: the layer is invisible
        assert len(page.get_images()) >= 1


def test_tesseract_is_blocked_and_bad_options_are_one_line(scan, tmp_path):
    path, _ = scan
    p = _run_ocrmypdf(["--plugin", "vlparse.ocrmypdf", "--vlparse-from-output", str(tmp_path), str(path),
                       str(tmp_path / "o.pdf")], tmp_path)
    assert p.returncode != 0
    assert "vlparse: --vlparse-from-output needs --vlparse-family" in p.stderr
    assert "Traceback" not in p.stderr and "tesseract" not in p.stderr.lower()


def test_the_readme_example_runs(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    [cmd] = readme_examples.blocks("OCRmyPDF", "bash")
    p = readme_examples.shell(cmd, tmp_path, env={"PATH": str(Path(sys.executable).parent)})
    assert p.returncode == 0, p.stderr
    with pymupdf.open(tmp_path / "sample.ocr.pdf") as doc:
        hits = doc[0].search_for("Quarterly Report")
        assert hits
    with pymupdf.open(ROOT / "examples" / "sample.pdf") as src:
        truth = src[0].search_for("Quarterly Report")[0]
    assert _inside(tuple(hits[0]), tuple(truth), tol=6.0)


@pytest.mark.slow
def test_a_local_model_is_loaded_once_for_all_pages_and_workers(scan, tmp_path, tiny_models, monkeypatch):
    from vlparse.backends import local
    from vlparse.integrations import ocrmypdf as plugin

    loads = []
    real_init = local.LocalBackend.__init__

    def counting_init(self, *a, **k):
        loads.append(1)
        real_init(self, *a, **k)

    monkeypatch.setattr(local.LocalBackend, "__init__", counting_init)
    monkeypatch.setattr(plugin, "_BACKENDS", {})
    path, _ = scan
    two = tmp_path / "two.pdf"
    with pymupdf.open(path) as a:
        a.insert_pdf(pymupdf.open(path))
        a.save(two)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    code = ocrmypdf.ocr(two, tmp_path / "o.pdf", plugins=["vlparse.ocrmypdf"], jobs=2, use_threads=False,
                        vlparse_model=str(tiny_models["qwen2.5-vl"]), vlparse_max_pixels=120000,
                        vlparse_max_new_tokens=16, progress_bar=False)
    assert code == ocrmypdf.ExitCode.ok
    assert len(loads) == 1  # two pages, two workers, one model: processes were turned into threads


def test_a_server_backend_gets_each_page_at_the_size_vlparse_geometry_gives(scan, tmp_path, monkeypatch):
    from fake_openai_server import FakeOpenAIServer

    from vlparse.integrations import ocrmypdf as plugin

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(plugin, "_BACKENDS", {})
    path, where = scan
    two = tmp_path / "two.pdf"
    with pymupdf.open(path) as a:
        a.insert_pdf(pymupdf.open(path))
        a.save(two)
    answer = _answer("qwen3-vl", where)
    with FakeOpenAIServer(lambda req: answer, models=("Qwen/Qwen3-VL-8B-Instruct",)) as srv:
        code = ocrmypdf.ocr(two, tmp_path / "o.pdf", plugins=["vlparse.ocrmypdf"], jobs=2,
                            vlparse_base_url=[srv.url], progress_bar=False)
        requests = list(srv.chat_requests)
    assert code == ocrmypdf.ExitCode.ok
    fam = get_family("qwen3-vl")  # the family came from the served model's name
    expected = model_size(fam, 2400, 3300, Budget(fam.default_min_pixels(), fam.default_max_pixels("doc")))
    assert [r.image_size for r in requests] == [expected, expected]
    assert all(r.user == "qwenvl html" for r in requests)
    with pymupdf.open(tmp_path / "o.pdf") as doc:
        for page in doc:
            [hit] = page.search_for("signature")
            assert _inside(tuple(hit), where["signature"])


def test_the_hocr_hook_reads_the_page_from_ocrmypdfs_file_name(scan, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from vlparse.integrations import ocrmypdf as plugin

    monkeypatch.setattr(plugin, "_BACKENDS", {})
    path, where = scan
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "page-1.html").write_text("```html\n<html><body><p data-bbox=\"0 0 10 10\">wrong page</p></body></html>\n```")
    (answers / "page-2.html").write_text(_answer("qwen3-vl", where))
    with pymupdf.open(path) as doc:
        doc[0].get_pixmap(dpi=100).save(tmp_path / "000002_ocr.png")  # OCRmyPDF's name for page 2's image
    options = SimpleNamespace(extra_attrs={"vlparse_family": "qwen3-vl", "vlparse_from_output": str(answers)})
    hocr, text = tmp_path / "p.hocr", tmp_path / "p.txt"
    plugin.VlparseEngine.generate_hocr(tmp_path / "000002_ocr.png", hocr, text, options)
    assert "Revenue Forecast" in hocr.read_text() and "wrong page" not in hocr.read_text()
    assert "Appendix signature" in text.read_text()


def test_an_unreachable_server_is_one_line_not_a_traceback(scan, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path, _ = scan
    p = _run_ocrmypdf(["--plugin", "vlparse.ocrmypdf", "--vlparse-base-url", f"http://127.0.0.1:{port}/v1",
                       "--vlparse-family", "qwen3-vl", str(path), str(tmp_path / "o.pdf")], tmp_path)
    assert p.returncode != 0
    assert f"vlparse: cannot reach the server at http://127.0.0.1:{port}/v1" in p.stderr
    assert "Traceback" not in p.stderr
