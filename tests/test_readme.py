"""The README's commands, run as written (in a shell, in a scratch directory that sees the repository's examples)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pdfs import make_pdf

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _line(prefix: str) -> str:
    """The README line starting with ``prefix`` (continuation lines joined)."""
    text = README.replace("\\\n", " ")
    matches = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(prefix)]
    assert matches, f"the README has no line starting with {prefix!r}"
    return re.sub(r"\s+#.*$", "", matches[0])


def _shell(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    return tmp_path


def test_the_main_job_of_the_setup(scratch):
    install_and_run = _line('pip install "torch==')
    main_job = install_and_run.split(" && ", 1)[1]
    assert main_job.startswith("vlparse doc examples/sample.pdf")
    p = _shell(main_job, scratch)
    assert p.returncode == 0, p.stderr
    doc = json.loads((scratch / "out" / "sample.json").read_text())
    assert [pg["status"] for pg in doc["pages"]] == ["ok", "ok"]
    assert "Quarterly Report: Third Quarter" in (scratch / "out" / "sample.md").read_text()
    assert "<section" in (scratch / "out" / "sample.html").read_text()
    first = next(b for b in doc["pages"][0]["blocks"] if b["type"] == "heading")
    assert first["bbox_pt"] == pytest.approx([56, 52, 539, 92], abs=1.0)  # where make_sample.py put it


def test_the_test_command_is_what_ci_runs():
    assert "python -m pytest -q" in README
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()


def test_the_ground_example_without_a_gpu(scratch):
    p = _shell(_line("vlparse ground examples/shapes.png"), scratch)
    assert p.returncode == 0, p.stderr
    [rec] = [json.loads(x) for x in p.stdout.splitlines()]
    assert rec["detections"][0]["label"] == "red car"
    assert rec["detections"][0]["bbox"] == pytest.approx([110, 165, 340, 325], abs=3)
    assert (scratch / "out" / "shapes.overlay.png").exists()


@pytest.mark.slow
def test_the_pipeline_example_on_a_tiny_model(scratch, tiny_models):
    docs = scratch / "docs"
    (docs / "sub").mkdir(parents=True)
    make_pdf(docs / "a.pdf", pages=2)
    make_pdf(docs / "sub" / "b.pdf", pages=1)
    Image.new("RGB", (50, 50)).save(docs / "not-a-pdf.png")
    pipeline = _line("find docs -name '*.pdf' | vlparse doc -")
    tiny = f" --model {tiny_models['qwen2.5-vl']} --max-new-tokens 16 --max-pixels 120000 --retries 0"
    cmd = pipeline.replace(" --jsonl", " --jsonl" + tiny)
    p = _shell(cmd, scratch)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in (scratch / "pages.jsonl").read_text().splitlines()]
    assert sorted((Path(x["source"]).name, x["page"]) for x in lines) == [("a.pdf", 1), ("a.pdf", 2), ("b.pdf", 1)]
    assert (scratch / "out" / "a.json").exists() and (scratch / "out" / "b.json").exists()
    assert len((scratch / "out" / "manifest.jsonl").read_text().splitlines()) == 3
    # the same command again: everything is resumed, nothing redone or logged twice, pages.jsonl still complete
    p = _shell(cmd, scratch)
    assert p.returncode == 0 and "3 already done" in p.stderr
    assert len((scratch / "out" / "manifest.jsonl").read_text().splitlines()) == 3
    lines = [json.loads(x) for x in (scratch / "pages.jsonl").read_text().splitlines()]
    assert sorted((Path(x["source"]).name, x["page"], x["resumed"]) for x in lines) == [
        ("a.pdf", 1, True), ("a.pdf", 2, True), ("b.pdf", 1, True)]


def test_the_extract_example_without_a_gpu(scratch):
    p = _shell(_line("vlparse extract examples/invoice.pdf"), scratch)
    assert p.returncode == 0, p.stderr
    rec = json.loads((scratch / "out" / "invoice.json").read_text())
    assert rec["values"]["total"] == 2274.5 and rec["fields"]["total"]["page"] == 2
    assert rec["fields"]["total"]["text_match"] is True and rec["values"]["invoice_date"] == "2024-03-05"
    assert rec["flagged"] == ["invoice_date"]  # 05/03/2024: day and month could be swapped
    review = (scratch / "out" / "invoice.review.html").read_text()
    assert 'data-type="invoice_number"' in review and 'data-type="line_items.amount"' in review
    assert (scratch / "out" / "invoices.csv").read_text().startswith("source,status,valid,invoice_number")
