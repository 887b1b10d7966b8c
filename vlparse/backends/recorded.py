"""Answers produced elsewhere (a server, another tool, an earlier ``--raw`` export): ``--from-output``.

Accepted shapes:
- a single file holding one raw answer (for a run of one page or one image);
- a JSONL file of ``{"page": n, "output": "..."}`` lines (``"source"`` or ``"image"`` may name the input,
  for runs over several inputs) — the shape ``vlparse doc --raw`` writes;
- a directory of ``page-N.html`` / ``page-N.txt`` / ``page-N.json`` files;
- ``-``: any of the file shapes on standard input.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vlparse.core.errors import UsageError
from vlparse.core.families import Family
from vlparse.backends.base import Answer, Backend, Request

_PAGE_FILE = re.compile(r"^page[-_]?0*(\d+)\.(html?|txt|json|md)$", re.I)


class RecordedAnswers:
    """Raw answers keyed by (source or None, page or None)."""

    def __init__(self, origin: str):
        self.origin = origin
        self.by_key: dict[tuple[str | None, int | None], str] = {}
        #: a run that selects one page (``--pages 3``): a single plain answer is that page's
        self.only_page: int | None = None

    def add(self, source: str | None, page: int | None, text: str) -> None:
        self.by_key[(source, page)] = text

    def get(self, source: str, page: int) -> str | None:
        for key in ((source, page), (Path(source).name, page), (None, page)):
            if key in self.by_key:
                return self.by_key[key]
        for key in ((source, None), (Path(source).name, None)):
            if key in self.by_key:
                return self.by_key[key]
        if page in (1, self.only_page) and list(self.by_key) == [(None, None)]:
            return self.by_key[(None, None)]
        return None

    def __len__(self) -> int:
        return len(self.by_key)


def _parse_text(text: str, origin: str) -> RecordedAnswers:
    ans = RecordedAnswers(origin)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    records = []
    if lines and lines[0].lstrip().startswith("{"):
        try:
            records = [json.loads(ln) for ln in lines]
        except ValueError:
            records = []
    if records and all(isinstance(r, dict) and "output" in r for r in records):
        for r in records:
            page = r.get("page")
            if page is not None and not isinstance(page, int):
                raise UsageError(f"--from-output {origin}: 'page' must be an integer (got {page!r})")
            ans.add(r.get("source") or r.get("image"), page, str(r["output"]))
        return ans
    ans.add(None, None, text)
    return ans


def load_recorded(spec: str) -> RecordedAnswers:
    if spec == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("--from-output -: nothing on standard input")
        return _parse_text(sys.stdin.read(), "stdin")
    path = Path(spec)
    if path.is_dir():
        ans = RecordedAnswers(spec)
        for f in sorted(path.iterdir()):
            m = _PAGE_FILE.match(f.name)
            if m:
                ans.add(None, int(m.group(1)), f.read_text(encoding="utf-8", errors="replace"))
        if not len(ans):
            raise UsageError(f"--from-output {spec}: the directory has no page-N.html / page-N.txt files")
        return ans
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"--from-output {spec}: no such file") from None
    except OSError as e:
        raise UsageError(f"--from-output {spec}: {e.strerror or e}") from None
    return _parse_text(text, spec)


#: tests only: a directory through which the test paces the answers (see :meth:`RecordedBackend._pace`)
PACE_ENV = "VLPARSE_TEST_PACE"


class RecordedBackend(Backend):
    name = "recorded"

    def __init__(self, family: Family, answers: RecordedAnswers, model_name: str = "recorded"):
        self.family = family
        self.answers = answers
        self.model_name = model_name
        self.batch_size = 64
        self._pace_dir = os.environ.get(PACE_ENV) or None
        self._asked = 0

    def _pace(self) -> None:
        """Tests only (``$VLPARSE_TEST_PACE=DIR``): before answering its n-th request, the backend creates
        ``DIR/asked-n`` and waits until ``DIR/go-n`` (or ``DIR/go-all``) exists. A test then knows exactly
        which pages are finished when it interrupts or kills the run, without racing a clock."""
        self._asked += 1
        d = self._pace_dir
        open(os.path.join(d, f"asked-{self._asked}"), "w").close()
        go, go_all = os.path.join(d, f"go-{self._asked}"), os.path.join(d, "go-all")
        while not (os.path.exists(go) or os.path.exists(go_all)):
            time.sleep(0.01)

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        out = []
        for r in requests:
            if self._pace_dir:
                self._pace()
            source, _, page = r.key.rpartition("#")
            text = self.answers.get(source, int(page))
            if text is None:
                out.append(Answer(r.key, "", "error", error=f"no recorded answer for {source} page {page} "
                                                             f"in {self.answers.origin}"))
            else:
                out.append(Answer(r.key, text, "stop"))
        return out
