"""Library use and memory: the renderer is joined on an early stop, rendering ahead is bounded, page images
stream through --review and --overlay, and a 300-page run stays under a fixed peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest

from paced import FAMILY, answers_for
from pdfs import make_pdf
from vlparse.backends.base import Answer, Backend
from vlparse.core.errors import OutOfMemoryError
from vlparse.core.families import QWEN2_5_VL
from vlparse.core.geometry import Budget
from vlparse.run.pipeline import Listener, RunConfig, Runner
from vlparse.run.prompts import load_prompt
from vlparse.run.tasks import Decoding, Task

pytestmark = pytest.mark.adversarial
GOOD = '<h1 data-bbox="10 10 200 60">Title</h1>'
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "memory.py"


class Counting(Backend):
    name = "counting"

    def __init__(self, rendered: list[int], batch_size=4):
        self.family = QWEN2_5_VL
        self.batch_size = batch_size
        self.rendered = rendered
        self.answered = 0
        self.most_ahead = 0  # pages rendered but not yet answered, at the worst moment

    def generate(self, requests):
        self.most_ahead = max(self.most_ahead, self.rendered[0] - self.answered)
        self.answered += len(requests)
        return [Answer(r.key, GOOD) for r in requests]


def _cfg(**kw) -> RunConfig:
    task = Task("doc", QWEN2_5_VL, load_prompt(QWEN2_5_VL, "doc"), Decoding(64))
    return RunConfig(task=task, budget=Budget(QWEN2_5_VL.default_min_pixels(), 100_000), **kw)


def _count_renders(monkeypatch) -> list[int]:
    from vlparse.pages import render

    rendered = [0]
    for cls in (render.PdfSource, render.ImageSource):
        real = cls.page

        def page(self, *a, _real=real, **k):
            rendered[0] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(cls, "page", page)
    return rendered


def test_rendering_ahead_of_the_model_stays_within_its_budget(tmp_path, monkeypatch):
    pdf = make_pdf(tmp_path / "long.pdf", pages=60)
    rendered = _count_renders(monkeypatch)
    backend = Counting(rendered)
    page_bytes = 100_000 * 4  # at most the pixel budget, 4 bytes a pixel
    runner = Runner(_cfg(render_ahead_bytes=3 * page_bytes), lambda: backend)
    summary = runner.run([str(pdf)])
    assert summary.pages_done == 60 and rendered[0] == 60
    # 3 pages fit the budget; one more may wait, rendered, at its door
    assert backend.most_ahead <= 4, backend.most_ahead


class StopAfterOne(Listener):
    def on_page(self, result, doc, resumed):
        raise KeyboardInterrupt


def _open_fds_to(path: Path) -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                out.append(fd)
        except OSError:
            pass
    return out


@pytest.mark.parametrize("stop", ["interrupt", "exception"])
def test_a_run_stopped_early_joins_its_render_thread_and_closes_its_inputs(tmp_path, stop):
    pdf = make_pdf(tmp_path / "long.pdf", pages=40)

    class Boom(Counting):
        def generate(self, requests):
            raise OutOfMemoryError("simulated: out of memory at batch size 1")

    backend = Boom([0], batch_size=1) if stop == "exception" else Counting([0], batch_size=1)
    listener = StopAfterOne() if stop == "interrupt" else None
    runner = Runner(_cfg(batch_size=1, window=1), lambda: backend, listener=listener)
    with pytest.raises((KeyboardInterrupt, OutOfMemoryError)):
        runner.run([str(pdf)])
    assert not [t for t in threading.enumerate() if t.name == "vlparse-render"]
    assert _open_fds_to(pdf) == []


def _track_page_images(monkeypatch) -> list[int]:
    """Wrap iter_page_images: records how many of its images are alive each time it yields one."""
    from vlparse.pages import render

    real = render.iter_page_images
    alive_counts: list[int] = []

    def tracked(*a, **k):
        refs = []
        for img in real(*a, **k):
            if img is not None:
                refs.append(weakref.ref(img))
            alive_counts.append(sum(r() is not None for r in refs))
            yield img

    monkeypatch.setattr(render, "iter_page_images", tracked)
    return alive_counts


@pytest.mark.parametrize("flag", ["--review", "--overlay"])
def test_review_and_overlays_hold_one_page_image_at_a_time(tmp_path, cli, monkeypatch, flag):
    alive = _track_page_images(monkeypatch)
    pdf = make_pdf(tmp_path / "a.pdf", pages=6)
    answers = answers_for(tmp_path / "answers.jsonl", 6)
    extra = [flag, tmp_path / "ov"] if flag == "--overlay" else [flag]
    res = cli("doc", pdf, "--family", FAMILY, "--from-output", answers, "-o", tmp_path / "out", *extra)
    assert res.exit_code == 0, res.stderr
    assert len(alive) == 6 and max(alive) <= 2, alive


def test_a_300_page_run_stays_under_a_fixed_peak_rss(tmp_path):
    """CI's hold on memory: 300 pages with recorded answers (a few seconds); benchmarks/memory.py for 2000."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        import memory
    finally:
        sys.path.remove(str(BENCH.parent))
    pdf, answers = memory.make_inputs(tmp_path, 300)
    mb, _, code = memory.peak_rss_mb(memory.doc_command(pdf, answers, tmp_path / "out"))
    assert code == 0
    assert mb < 600, f"peak RSS {mb:.0f} MB (before the render-ahead budget: 2.5 GB)"
