"""Peak memory of ``vlparse doc`` on a long document with recorded answers (no model: the pipeline itself).

Builds an N-page text PDF and one recorded answer per page, runs ``vlparse doc`` in a child process and
reports its peak resident set (``ru_maxrss`` from ``os.wait4``, measured by a small process in between), for a plain run and a ``--review``
run, each into a fresh ``-o DIR``:

    python benchmarks/memory.py [--pages 2000] [--review-only | --plain-only] [--keep DIR]

Prints one line per run: pages, flags, peak RSS in MB, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

ANSWER = ('<h1 data-bbox="60 60 900 130">Quarterly report, page {n}</h1>'
          '<p data-bbox="60 160 1100 400">Revenue grew over the second quarter, driven by the new spectrometer '
          'line. Operating costs stayed flat while the order backlog reached a record high.</p>')
LOREM = "Revenue grew over the second quarter, driven by the new spectrometer line. " * 8


def make_inputs(root: Path, pages: int) -> tuple[Path, Path]:
    pdf, answers = root / "long.pdf", root / "answers.jsonl"
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((72, 100), f"Page {i + 1}", fontsize=24)
        page.insert_textbox(pymupdf.Rect(72, 140, 523, 780), LOREM, fontsize=11)
    doc.save(str(pdf))
    doc.close()
    answers.write_text("".join(json.dumps({"page": n, "output": ANSWER.format(n=n)}) + "\n"
                               for n in range(1, pages + 1)))
    return pdf, answers


#: runs the command as its own child and prints that child's peak RSS (KiB) and exit status. The measured
#: process must not be forked straight from a big parent (a test runner with torch loaded): a child's
#: ru_maxrss counts what it inherited before exec, so a small process in between does the fork.
_WRAPPER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def peak_rss_mb(cmd: list[str]) -> tuple[float, float, int]:
    """(peak RSS of the command in MB, wall seconds, exit status)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    kib, code = (int(x) for x in p.stdout.split())
    if code != 0:
        sys.exit(f"the run failed (exit {code}): {p.stderr[-2000:]}")
    return kib / 1024, seconds, code


def doc_command(pdf: Path, answers: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "vlparse", "doc", str(pdf), "-o", f"{out}/", "--json", "--family", "qwen2.5-vl",
            "--from-output", str(answers), "--quiet", *flags]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--review-only", action="store_true")
    ap.add_argument("--plain-only", action="store_true")
    ap.add_argument("--keep", help="build the inputs and outputs here (default: a temp directory)")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="vlparse-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    pdf, answers = make_inputs(root, args.pages)
    runs = [("plain", ()), ("--review", ("--review",))]
    if args.review_only:
        runs = runs[1:]
    if args.plain_only:
        runs = runs[:1]
    for name, flags in runs:
        mb, secs, _ = peak_rss_mb(doc_command(pdf, answers, root / f"out-{name.strip('-')}", *flags))
        print(f"pages={args.pages} run={name} peak_rss_mb={mb:.0f} seconds={secs:.1f}", flush=True)


if __name__ == "__main__":
    main()
