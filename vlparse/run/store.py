"""Run state in an output directory: per-page results, the manifest, resume.

Layout of ``-o DIR``::

    DIR/manifest.jsonl                  one line per finished page / failed input (append-only log)
    DIR/.vlparse/<doc_id>/page-0001.json  the page's full result (atomic write), the resume record

A page counts as done when its state file holds a result for the same source, page and run
fingerprint (task, family, model, prompt, pixel budget): a rerun with other settings redoes it,
and a file that is missing, truncated or from another run does not count.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from vlparse.run.atomic import atomic_write_text
from vlparse.core.results import FAILED, SCHEMA_VERSION, PageResult

STATE_DIR = ".vlparse"
MANIFEST = "manifest.jsonl"


def fingerprint(**settings: Any) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def doc_id(source: str) -> str:
    """A stable, filesystem-safe id for an input path."""
    p = Path(source)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in p.stem)[:60] or "input"
    h = hashlib.sha1(os.fsencode(os.path.realpath(p))).hexdigest()[:8]  # names not UTF-8; link loops
    return f"{stem}-{h}"


class Store:
    def __init__(self, root: str | Path, run_fingerprint: str):
        self.root = Path(root)
        self.fingerprint = run_fingerprint
        self.state = self.root / STATE_DIR
        self._lock = threading.Lock()

    def page_path(self, source: str, page: int) -> Path:
        return self.state / doc_id(source) / f"page-{page:04d}.json"

    def load_done(self, source: str, page: int) -> dict[str, Any] | None:
        """The stored result of a finished page of this run, or None."""
        path = self.page_path(source, page)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("fingerprint") != self.fingerprint:
            return None
        res = data.get("result") or {}
        if res.get("source") != source or res.get("page") != page or res.get("status") == FAILED:
            return None
        return res

    def save_page(self, result: PageResult, extra: dict[str, Any] | None = None) -> None:
        info = result.info
        record = {"schema_version": SCHEMA_VERSION, "fingerprint": self.fingerprint, "result": result.to_dict(),
                  **(extra or {})}
        atomic_write_text(self.page_path(info.source, info.page), json.dumps(record, ensure_ascii=False))
        self.log({"source": info.source, "page": info.page, "status": result.status,
                  "warnings": len(result.warnings), "error": result.error})

    def log(self, entry: dict[str, Any]) -> None:
        """Append one line to the manifest (one write call of a whole line, then fsync)."""
        line = json.dumps({"schema_version": SCHEMA_VERSION, **entry, "time": round(time.time(), 3)},
                          ensure_ascii=False) + "\n"
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode("utf-8", "backslashreplace"))  # a non-UTF-8 file name: a \udcXX escape
                os.fsync(fd)
            finally:
                os.close(fd)
