"""Inputs and outputs as fsspec URLs (``s3://bucket/pdfs/*.pdf``, ``gs://…``, ``memory://…``, ``file://…``).

- :func:`is_url` / :func:`expand_urls`: URL inputs (files, directories, globs) to a list of URLs, the same way
  :func:`vlparse.pages.inputs.expand_inputs` treats local paths.
- :func:`identity`: what makes an input "the same" for resume: ETag and size on object stores, size and
  modification time on filesystems.
- :class:`FsspecStore`: the resume :class:`~vlparse.run.store.Store` on any fsspec filesystem. Each page record is
  one complete write (one PUT on object stores). The manifest is the same append-only log as locally; object
  stores cannot append, so the driver keeps the run's lines and rewrites the manifest object (at most every
  few seconds, and at the end). Exports are written to a local staging directory and uploaded file by file
  (one PUT each) as documents finish.
- :class:`OutputLock`: one writer per output. Local directories keep the local run's rules; on fsspec outputs a
  lock object is made with a conditional create (``If-None-Match: *`` on S3; exclusive create elsewhere), and
  refreshed while the run lives. A lock whose heartbeat is older than :data:`STALE_AFTER` seconds (a killed
  driver) is taken over with a warning. Stores without conditional create (older S3-compatible servers):
  single writer by convention — run one job per output prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from vlparse.core.errors import UsageError
from vlparse.core.results import FAILED, SCHEMA_VERSION
from vlparse.run.store import MANIFEST, STATE_DIR, Store

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")
_GLOB_CHARS = set("*?[")
#: seconds after which an output lock without a heartbeat belongs to a dead run
STALE_AFTER = 120.0
HEARTBEAT = 20.0
LOCK = "lock.json"


def is_url(s: str) -> bool:
    return bool(_URL.match(s or ""))


def local_path(url: str) -> str | None:
    """The local path of a ``file://`` URL (or of a plain path); None for other URLs."""
    if not is_url(url):
        return url
    if url.startswith("file://"):
        return url[len("file://"):] or "/"
    return None


def _fsspec():
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with the ray extra
        raise UsageError("URL inputs and outputs need fsspec: pip install \"vlparse[ray]\"") from None
    return fsspec


def url_to_fs(url: str):
    """(filesystem, path within it); errors (unknown protocol, missing driver) are one clear line."""
    fsspec = _fsspec()
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise UsageError(f"{url}: {' '.join(str(e).split())[:200]}") from None


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts]])


def _unstrip(fs, path: str) -> str:
    """A path from ``fs`` as a full URL again (fsspec strips the protocol)."""
    return fs.unstrip_protocol(path)


def expand_urls(items: list[str], *, recursive: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """URL inputs -> (URLs of PDFs and images, [(item, problem)])."""
    from vlparse.pages.inputs import SUPPORTED

    found: list[str] = []
    problems: list[tuple[str, str]] = []

    def ok(p: str) -> bool:
        name = p.rstrip("/").rsplit("/", 1)[-1]
        return not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED

    for item in items:
        fs, path = url_to_fs(item)
        fs.invalidate_cache()  # fsspec keeps listings per filesystem instance: a long-lived process must re-list
        try:
            if _GLOB_CHARS & set(path):
                files = [p for p in sorted(fs.glob(path)) if fs.isfile(p) and ok(p)]
                if not files:
                    problems.append((item, "the pattern matches no PDF or image"))
            elif fs.isdir(path):
                files = sorted(fs.find(path) if recursive else [p for p in fs.ls(path, detail=False) if fs.isfile(p)])
                files = [p for p in files if ok(p)]
                if not files:
                    problems.append((item, "no PDFs or images here" + ("" if recursive else " (use --recursive)")))
            elif fs.isfile(path):
                files = [path]
            else:
                problems.append((item, "no such file"))
                continue
        except OSError as e:
            problems.append((item, f"cannot list: {' '.join(str(e).split())[:160]}"))
            continue
        for p in files:
            u = _unstrip(fs, p)
            if u not in found:
                found.append(u)
    return found, problems


def identity(url: str) -> dict[str, Any]:
    """What must not change for a stored page to count as done: ETag + size (object stores), size + mtime."""
    fs, path = url_to_fs(url)
    fs.invalidate_cache(path)  # the ETag now, not a cached listing's
    info = fs.info(path)
    ident: dict[str, Any] = {"size": info.get("size")}
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    if etag:
        ident["etag"] = str(etag).strip('"')
    else:
        mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
        if mtime is not None:
            ident["mtime"] = mtime if isinstance(mtime, (int, float)) else str(mtime)
    return ident


def url_doc_id(url: str) -> str:
    """A stable id for a URL input (the URL itself is its identity; no resolving against a cwd)."""
    stem = Path(url.rstrip("/").rsplit("/", 1)[-1]).stem
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60] or "input"
    return f"{stem}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def fetch_to_temp(url: str, directory: str | None = None) -> str:
    """Download ``url`` to a local temp file (workers open inputs from local files); returns its path."""
    fs, path = url_to_fs(url)
    suffix = Path(path).suffix
    fd, tmp = tempfile.mkstemp(prefix="vlparse-in-", suffix=suffix, dir=directory)
    os.close(fd)
    fs.get_file(path, tmp)
    return tmp


def read_text(url_or_path: str) -> str | None:
    """A small file's text, or None when it is missing or unreadable."""
    if not is_url(url_or_path):
        try:
            return Path(url_or_path).read_text(encoding="utf-8")
        except OSError:
            return None
    fs, path = url_to_fs(url_or_path)
    try:
        return fs.cat_file(path).decode("utf-8")
    except (OSError, ValueError):
        return None


def load_done_record(path: str, fingerprint: str, source: str, page: int, ident: dict | None = None, *,
                     skip_failed: bool = False) -> dict[str, Any] | None:
    """The stored result of a finished page (what :meth:`Store.load_done` decides, readable from any worker).

    ``ident``: the input's current identity; a record made from another version of the input does not count.
    ``skip_failed``: a failed page counts as done (``--skip-failed``); by default it is retried.
    """
    text = read_text(path)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
        return None
    if ident is not None and data.get("input") not in (None, ident):
        return None
    res = data.get("result") or {}
    if res.get("source") != source or res.get("page") != page:
        return None
    if res.get("status") == FAILED and not skip_failed:
        return None
    return res


class FsspecStore(Store):
    """The resume store on an fsspec URL (``s3://bucket/out``, ``memory://out``).

    ``staging``: a local directory where exports are written before they are uploaded.
    """

    remote = True

    def __init__(self, root: str, run_fingerprint: str, staging: str | Path):
        super().__init__(staging, run_fingerprint)
        self.url = root.rstrip("/")
        self.fs, self._root_path = url_to_fs(self.url)
        self.staging = Path(staging)
        self._lines: list[str] = []
        self._dirty = False
        self._last_flush = 0.0
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._last_sync = 0.0
        existing = read_text(join(self.url, MANIFEST))
        if existing:
            self._lines = [ln + "\n" for ln in existing.splitlines() if ln.strip()]

    def state_dir(self, source: str) -> str:
        from vlparse.run.store import doc_id

        return join(self.url, STATE_DIR, url_doc_id(source) if is_url(source) else doc_id(source))

    def page_url(self, source: str, page: int) -> str:
        return join(self.state_dir(source), f"page-{page:04d}.json")

    def load_done(self, source: str, page: int) -> dict[str, Any] | None:
        return load_done_record(self.page_url(source, page), self.fingerprint, source, page)

    def identity(self, source: str) -> dict[str, Any] | None:
        """None here: on a URL output the Ray job records the input's identity (ETag + size, or size + mtime)
        with each page (vlparse.integrations.ray), and its list stage checks it."""
        return None

    def write_record(self, source: str, page: int, text: str) -> None:
        self.fs.pipe_file(url_to_fs(self.page_url(source, page))[1], text.encode("utf-8"))  # one complete PUT

    def log(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"schema_version": SCHEMA_VERSION, **entry, "time": round(time.time(), 3)},
                          ensure_ascii=False) + "\n"
        with self._lock:
            self._lines.append(line)
            self._dirty = True
        if time.monotonic() - self._last_flush > 5.0:
            self.flush()

    def flush(self) -> None:
        """Rewrite the manifest object (the whole log; object stores cannot append)."""
        with self._lock:
            if not self._dirty:
                return
            data = "".join(self._lines).encode("utf-8")
            self._dirty = False
        self.fs.pipe_file(url_to_fs(join(self.url, MANIFEST))[1], data)
        self._last_flush = time.monotonic()

    def sync_exports(self, force: bool = False) -> None:
        """Upload staged export files that are new or changed since the last sync (one PUT each)."""
        if not force and time.monotonic() - self._last_sync < 2.0:
            return
        self._last_sync = time.monotonic()
        for dirpath, dirnames, filenames in os.walk(self.staging):
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
            for name in filenames:
                if name.startswith(".") or name == MANIFEST:
                    continue
                p = Path(dirpath) / name
                st = p.stat()
                sig = (st.st_mtime_ns, st.st_size)
                rel = p.relative_to(self.staging).as_posix()
                if self._uploaded.get(rel) != sig:
                    self.fs.put_file(str(p), url_to_fs(join(self.url, rel))[1])
                    self._uploaded[rel] = sig

    def close(self) -> None:
        self.sync_exports(force=True)
        self.flush()


class StoreUploads:
    """A listener wrapper that uploads a remote store's staged exports as pages and documents finish."""

    def __init__(self, inner, store: FsspecStore):
        self.inner, self.store = inner, store

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def on_opened(self, doc) -> None:
        self.inner.on_opened(doc)

    def on_page(self, result, doc, resumed: bool) -> None:
        self.inner.on_page(result, doc, resumed)
        self.store.sync_exports()

    def on_document(self, doc) -> None:
        self.inner.on_document(doc)
        self.store.sync_exports(force=True)

    def on_input_error(self, doc) -> None:
        self.inner.on_input_error(doc)


class OutputLock:
    """One run per fsspec output: a lock object made by conditional create, refreshed by a heartbeat."""

    def __init__(self, root: str):
        self.url = join(root, STATE_DIR, LOCK)
        self.fs, self.path = url_to_fs(self.url)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"run": self.token, "host": os.uname().nodename, "pid": os.getpid(),
                           "heartbeat": time.time()}).encode()

    def acquire(self) -> None:
        from vlparse.run import console

        self.fs.makedirs(self.path.rsplit("/", 1)[0], exist_ok=True)
        try:
            self._create()
        except FileExistsError:
            held = read_text(self.url)
            try:
                beat = float(json.loads(held or "{}").get("heartbeat", 0))
            except (ValueError, TypeError, AttributeError):
                beat = 0.0
            age = time.time() - beat
            if age < STALE_AFTER:
                raise UsageError(f"another vlparse run is writing to this output ({self.url}, heartbeat "
                                 f"{age:.0f}s ago); wait for it, or delete the lock if that run is gone") from None
            console.warn(f"taking over a stale output lock ({self.url}, last heartbeat {age:.0f}s ago)")
            self.fs.pipe_file(self.path, self._body())
        self._thread = threading.Thread(target=self._beat, name="vlparse-lock", daemon=True)
        self._thread.start()

    def _create(self) -> None:
        try:
            self.fs.pipe_file(self.path, self._body(), mode="create")
        except TypeError:  # filesystems whose pipe_file has no mode: exclusive open
            with self.fs.open(self.path, "xb") as f:
                f.write(self._body())
        except FileExistsError:
            raise
        except OSError as e:  # S3 answers 412 Precondition Failed when the object exists
            if "412" in str(e) or "PreconditionFailed" in str(e) or "exists" in str(e).lower():
                raise FileExistsError(self.url) from None
            raise

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self.fs.pipe_file(self.path, self._body())
            except OSError:  # pragma: no cover - a transient store error; the next beat retries
                pass

    def release(self) -> None:
        self._stop.set()
        try:
            self.fs.rm_file(self.path)
        except (OSError, FileNotFoundError):  # pragma: no cover
            pass
