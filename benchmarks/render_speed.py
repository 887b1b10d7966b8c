"""Rendering speed: vlparse's renderer vs ``pdftoppm -png`` at the same pixel count.

Both write one PNG per page at the model's native size (Qwen2.5-VL document budget, e.g. an A4 page
at 1232x1764); vlparse is also timed without the PNG encoding (what ``vlparse doc`` does: pages go
to the model in memory). Prints one table; needs poppler's ``pdftoppm`` on PATH.

    python benchmarks/render_speed.py [--pages 40] [--pdf FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Budget
from vlparse.pages.render import open_source, page_target_size

LOREM = ("Revenue grew over the second quarter, driven by the new spectrometer line. Operating costs stayed flat "
         "while the order backlog reached a record high. ") * 6


def make_text_pdf(path: Path, pages: int) -> None:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(56, 56, 539, 100), f"Section {i + 1}", fontsize=22, fontname="hebo")
        for k in range(8):
            page.insert_textbox(pymupdf.Rect(56, 110 + 85 * k, 539, 190 + 85 * k), LOREM, fontsize=9)
    doc.save(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--pdf", type=Path)
    args = ap.parse_args()
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm is not installed (Debian: apt-get install poppler-utils)")
    work = Path(tempfile.mkdtemp(prefix="vlparse-render-bench-"))
    pdf = args.pdf or work / "bench.pdf"
    if args.pdf is None:
        make_text_pdf(pdf, args.pages)
    budget = Budget(QWEN2_5_VL.default_min_pixels(), QWEN2_5_VL.default_max_pixels("doc"))
    with pymupdf.open(str(pdf)) as d:
        n = d.page_count
        w, h = page_target_size(QWEN2_5_VL, d[0].rect.width, d[0].rect.height, budget)

    t = time.perf_counter()
    with open_source(str(pdf)) as src:
        for i in range(1, n + 1):
            src.page(i, QWEN2_5_VL, budget)
    t_mem = time.perf_counter() - t

    def vlparse_render(workers: int) -> float:
        out = work / f"v{workers}"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vlparse", "render", str(pdf), "-o", str(out), "-j", str(workers), "-q"],
                       check=True)
        return time.perf_counter() - t

    t_png = vlparse_render(1)
    cores = os.cpu_count() or 1
    t_par = vlparse_render(min(8, cores))

    t = time.perf_counter()
    subprocess.run(["pdftoppm", "-png", "-scale-to-x", str(w), "-scale-to-y", str(h), str(pdf), str(work / "pp")],
                   check=True)
    t_pp = time.perf_counter() - t

    print(f"{n} pages at {w}x{h} px ({w * h / 1e6:.2f} MP each), one process, this machine's CPU")
    print(f"{'renderer':46} {'s':>7} {'pages/s':>8} {'vs pdftoppm':>12}")
    rows = [("pdftoppm -png (poppler, one process)", t_pp), ("vlparse render -j 1 (PNG files)", t_png),
            (f"vlparse render -j {min(8, cores)} (PNG files, {cores} cores)", t_par),
            ("vlparse doc's rendering (in memory, 1 thread)", t_mem)]
    for name, secs in rows:
        print(f"{name:46} {secs:7.2f} {n / secs:8.1f} {t_pp / secs:11.1f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
