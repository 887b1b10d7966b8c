"""Run state in an output directory: per-page results, the manifest, resume.

Layout of ``-o DIR``::

    DIR/manifest.jsonl                  one line per finished page / failed input (append-only log)
    DIR/.vlparse/<doc_id>/page-0001.json  the page's full result (atomic write), the resume record

A page counts as done when its state file holds a result for the same source, page and run
fingerprint (task, family, model, prompt, pixel budget, dpi, ...: :func:`vlparse.run.job.run_fingerprint`)
of the same input file (size, mtime and a SHA-256 of its first and last MiB): a rerun with other
settings or on a changed file redoes it, and a file that is missing, truncated or from another run
does not count. Records carry ``schema_version``.

One run at a time per directory: :meth:`Store.acquire` takes ``DIR/.vlparse/lock`` with ``fcntl.flock``
(released by the kernel when its holder dies, even by ``kill -9``) and, holding it, removes the temp
files a killed run left behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from vlparse.core.errors import BusyError
from vlparse.core.results import FAILED, SCHEMA_VERSION, PageResult
from vlparse.run.atomic import atomic_write_text, clean_stale_temps, output_error

STATE_DIR = ".vlparse"
MANIFEST = "manifest.jsonl"
LOCK = "lock"
_MIB = 1 << 20


def input_identity(source: str) -> dict[str, Any] | None:
    """What makes an input "the same file" for resume: size, mtime and a SHA-256 of its first and last MiB."""
    try:
        st = os.stat(source)
        h = hashlib.sha256()
        with open(source, "rb") as f:
            h.update(f.read(_MIB))
            if st.st_size > _MIB:
                f.seek(max(_MIB, st.st_size - _MIB))
                h.update(f.read(_MIB))
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def fingerprint(**settings: Any) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def doc_id(source: str) -> str:
    """A stable, filesystem-safe id for an input path."""
    if "://" in source:  # a URL input: the URL itself is the identity (nothing to resolve against a cwd)
        from vlparse.run.remote import url_doc_id

        return url_doc_id(source)
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
        #: --skip-failed: a page recorded as failed counts as done (by default a rerun retries it)
        self.skip_failed = False
        self._lock_fd: int | None = None
        self._identity: dict[str, dict[str, Any] | None] = {}
        self._logged: set[tuple[str, int]] = set()

    # -- one run per directory ----------------------------------------------------------------------
    def acquire(self, *, wait: bool = False) -> None:
        """Take the directory's run lock (``wait``: block until the other run ends, else BusyError)."""
        lock = self.state / LOCK
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(lock, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(f"{self.root} is in use by another vlparse run (PID {holder}); let it finish, or "
                            "rerun with --wait to wait for it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        for d in [self.root, self.state, *(p for p in self.state.iterdir() if p.is_dir())]:
            clean_stale_temps(d)

    def release(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the last descriptor releases the flock

    def identity(self, source: str) -> dict[str, Any] | None:
        if source not in self._identity:
            self._identity[source] = input_identity(source)
        return self._identity[source]

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
        if data.get("schema_version") != SCHEMA_VERSION or data.get("input") != self.identity(source):
            return None
        res = data.get("result") or {}
        if res.get("source") != source or res.get("page") != page or \
                (res.get("status") == FAILED and not self.skip_failed):
            return None
        return res

    def save_page(self, result: PageResult, extra: dict[str, Any] | None = None) -> None:
        info = result.info
        record = {"schema_version": SCHEMA_VERSION, "fingerprint": self.fingerprint,
                  "input": self.identity(info.source), "result": result.to_dict(), **(extra or {})}
        self.write_record(info.source, info.page, json.dumps(record, ensure_ascii=False))
        if (info.source, info.page) in self._logged:  # the manifest records a page once per run
            return
        self._logged.add((info.source, info.page))
        self.log({"source": info.source, "page": info.page, "status": result.status,
                  "warnings": len(result.warnings), "error": result.error})

    def write_record(self, source: str, page: int, text: str) -> None:
        """One page's record, written whole (a temp file and a rename; object stores: one PUT)."""
        atomic_write_text(self.page_path(source, page), text)

    def log(self, entry: dict[str, Any]) -> None:
        """Append one line to the manifest (one write call of a whole line, then fsync)."""
        line = json.dumps({"schema_version": SCHEMA_VERSION, **entry, "time": round(time.time(), 3)},
                          ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, line.encode("utf-8", "backslashreplace"))  # a non-UTF-8 file name: a \udcXX escape
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise output_error(self.root / MANIFEST, e) from None
