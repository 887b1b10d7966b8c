"""Helpers for the adversarial runs: a ``vlparse`` subprocess whose answers the test paces.

The recorded-answers backend, with ``$VLPARSE_TEST_PACE=DIR``, creates ``DIR/asked-n`` before its n-th
answer and waits for ``DIR/go-n`` (or ``DIR/go-all``). With ``--batch-size 1`` a test that lets pages
1..k through and waits for ``asked-(k+1)`` knows that exactly k pages are finished when it sends a
signal: no race against a model or a clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ANSWER = '<h1 data-bbox="10 10 200 60">Title {n}</h1><p data-bbox="10 80 400 120">Body of page {n}</p>'
FAMILY = "qwen2.5-vl"


def answers_for(path: Path, pages: int, text: str = ANSWER) -> Path:
    """A JSONL answer file with one answer per page."""
    path.write_text("".join(json.dumps({"page": n, "output": text.format(n=n)}) + "\n" for n in range(1, pages + 1)))
    return path


def vlparse(*args) -> list[str]:
    return [sys.executable, "-m", "vlparse", *(str(a) for a in args)]


class Pace:
    def __init__(self, root: Path):
        self.dir = root / "pace"
        self.dir.mkdir(parents=True, exist_ok=True)
        # PYTHONFAULTHANDLER: a run that hangs is stopped with SIGABRT by finish(), which dumps every thread's stack
        self.env = {**os.environ, "VLPARSE_TEST_PACE": str(self.dir), "PYTHONUNBUFFERED": "1",
                    "PYTHONFAULTHANDLER": "1"}

    def allow(self, *numbers: int) -> None:
        for n in numbers:
            (self.dir / f"go-{n}").touch()

    def allow_all(self) -> None:
        (self.dir / "go-all").touch()

    def wait_asked(self, n: int, proc: subprocess.Popen | None = None, limit: float = 120.0) -> None:
        """Until the backend has been asked for its n-th answer (it then waits for go-n)."""
        deadline = time.monotonic() + limit
        while not (self.dir / f"asked-{n}").exists():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the run ended (rc {proc.returncode}) before its answer {n} was asked: "
                                     f"{proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                if proc is not None:
                    finish(proc, timeout=0)
                raise AssertionError(f"answer {n} was never asked")
            time.sleep(0.01)


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> tuple[str, str]:
    """``proc.communicate()``; a run still going after ``timeout`` is aborted (its threads' stacks go into the
    failure message) instead of being left behind."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"the run did not end in {timeout}s; its stacks:\n{err}") from None
    return out, err


def manifest_pages(out: Path) -> list[tuple[str, int]]:
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    return [(Path(m["source"]).name, m["page"]) for m in lines if m["page"] is not None]


def temp_files(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if f.name.endswith(".tmp")]


def one_error_line(stderr: str) -> str:
    errors = [ln for ln in stderr.splitlines() if ln.startswith("vlparse: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return errors[0]
