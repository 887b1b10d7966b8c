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


def _record(line: str) -> dict | None:
    """A JSONL answer record (a JSON object with ``"output"``), or None."""
    try:
        r = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return r if isinstance(r, dict) and "output" in r else None


def _parse_text(text: str, origin: str) -> RecordedAnswers:
    """A JSONL file of answer records (when its first line is one), else one raw answer.

    Once the first line is a record every line must be one: a line that is not JSON, an ``output`` that
    is not a string (``null``, a number...), a page that is not a positive integer and a page given twice
    are errors naming the file and the line, never read as something else.
    """
    ans = RecordedAnswers(origin)
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines or _record(lines[0][1]) is None:
        ans.add(None, None, text)
        return ans
    seen: dict[tuple[str | None, int | None], int] = {}
    for n, ln in lines:
        where = f"--from-output {origin} line {n}"
        try:
            r = json.loads(ln)
        except (ValueError, RecursionError) as e:
            raise UsageError(f"{where}: not JSON ({getattr(e, 'msg', None) or type(e).__name__}); "
                             "every line of a JSONL answer file is one {\"page\", \"output\"} object") from None
        if not isinstance(r, dict) or "output" not in r:
            raise UsageError(f"{where}: not an answer record (a JSON object with \"output\")")
        out = r["output"]
        if not isinstance(out, str):
            raise UsageError(f"{where}: 'output' must be a string (got {json.dumps(out)[:40]})")
        page = r.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
            raise UsageError(f"{where}: 'page' must be a page number from 1 (got {json.dumps(page)[:40]})")
        source = r.get("source") or r.get("image")
        if source is not None and not isinstance(source, str):
            raise UsageError(f"{where}: 'source' must be a string (got {json.dumps(source)[:40]})")
        key = (source, page)
        if key in seen:
            what = f"page {page}" if page is not None else "the answer"
            raise UsageError(f"{where}: {what}{f' of {source}' if source else ''} is already on line {seen[key]}")
        seen[key] = n
        ans.add(source, page, out)
    return ans


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--from-output {origin}: not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset "
                         f"{e.start})") from None


def load_recorded(spec: str) -> RecordedAnswers:
    if spec == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("--from-output -: nothing on standard input")
        stream = getattr(sys.stdin, "buffer", None)
        text = _decode(stream.read(), "stdin") if stream is not None else sys.stdin.read()
        return _parse_text(text, "stdin")
    path = Path(spec)
    if path.is_dir():
        ans = RecordedAnswers(spec)
        for f in sorted(path.iterdir()):
            m = _PAGE_FILE.match(f.name)
            if m:
                page = int(m.group(1))
                if (None, page) in ans.by_key:
                    raise UsageError(f"--from-output {spec}: two files answer page {page} ({f.name} and another)")
                try:
                    data = f.read_bytes()
                except OSError as e:
                    raise UsageError(f"--from-output {f}: {e.strerror or e}") from None
                ans.add(None, page, _decode(data, str(f)))
        if not len(ans):
            raise UsageError(f"--from-output {spec}: the directory has no page-N.html / page-N.txt files")
        return ans
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"--from-output {spec}: no such file") from None
    except OSError as e:
        raise UsageError(f"--from-output {spec}: {e.strerror or e}") from None
    return _parse_text(_decode(data, spec), spec)


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
