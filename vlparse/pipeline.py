"""One pipeline for every command: inputs -> pages -> requests -> backend -> parse -> results.

- Pages of all inputs are rendered by a background thread (overlapping the model's work) and
  grouped into model batches across documents, sorted by size so little padding is wasted.
- Each page is isolated: a page that cannot be rendered or answered is recorded as failed and the
  run goes on (``fail_fast`` stops instead). Inputs that cannot be opened likewise.
- Truncated or looping answers are retried with another decoding setup; the best attempt is kept
  and every attempt is recorded on the page.
- With a :class:`~vlparse.store.Store`, every finished page is saved atomically before it is
  reported, and pages already done by an earlier run of the same settings are loaded, not redone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .backends.base import Answer, Backend, Request
from .errors import EXIT_OK, EXIT_PARTIAL, InputError, VlparseError
from .geometry import Budget
from .model import FAILED, PageResult
from .store import Store
from .tasks import Task, next_decoding, quality


@dataclass
class RunConfig:
    task: Task
    budget: Budget
    pages: str | None = None  # page selection, e.g. "1-3,7"
    dpi: float | None = None
    password: str | None = None
    retries: int = 1
    fail_fast: bool = False
    force: bool = False
    batch_size: int | None = None  # None: the backend's own choice
    window: int = 4  # sort pages by size within this many batches


@dataclass
class DocumentRun:
    """One input while the run goes on."""

    source: str
    kind: str = ""
    pages: list[int] = field(default_factory=list)
    results: dict[int, PageResult] = field(default_factory=dict)
    error: str | None = None  # the input could not be opened
    done: bool = False

    @property
    def complete(self) -> bool:
        return self.error is None and bool(self.pages) and len(self.results) == len(self.pages)

    def ordered(self) -> list[PageResult]:
        return [self.results[p] for p in self.pages if p in self.results]


class Listener:
    """Callbacks the commands implement (exports, JSONL, progress). All optional."""

    def on_start(self, total_pages: int) -> None: ...
    def on_page(self, result: PageResult, doc: DocumentRun, resumed: bool) -> None: ...
    def on_document(self, doc: DocumentRun) -> None: ...
    def on_input_error(self, doc: DocumentRun) -> None: ...


@dataclass
class Summary:
    pages_done: int = 0
    pages_resumed: int = 0
    pages_failed: int = 0
    inputs_failed: int = 0
    seconds: float = 0.0
    documents: list[DocumentRun] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if (self.pages_failed or self.inputs_failed) else EXIT_OK


class FailFast(VlparseError):
    exit_code = EXIT_PARTIAL


_END = object()


class Runner:
    def __init__(self, cfg: RunConfig, backend_factory: Callable[[], Backend], *, store: Store | None = None,
                 listener: Listener | None = None):
        self.cfg = cfg
        self._factory = backend_factory
        self._backend: Backend | None = None
        self.store = store
        self.listener = listener or Listener()
        self.summary = Summary()
        self._stop = threading.Event()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def close(self) -> None:
        self._stop.set()
        if self._backend is not None:
            self._backend.close()

    # -- producer: open inputs, resume finished pages, render the rest ---------------------------
    def _open(self, sources: Iterable[str], out: queue.Queue) -> None:
        from .render import PageError, open_source, parse_page_selection

        fam, cfg = self.cfg.task.family, self.cfg
        try:
            for source in sources:
                if self._stop.is_set():
                    break
                doc = DocumentRun(source)
                try:
                    src = open_source(source, password=cfg.password)
                except InputError as e:
                    doc.error = e.message
                    out.put(("input_error", doc, None))
                    continue
                with src:
                    doc.kind = src.kind
                    try:
                        doc.pages = parse_page_selection(cfg.pages, src.page_count) if src.kind == "pdf" else \
                            list(range(1, src.page_count + 1))
                    except VlparseError as e:
                        doc.error = e.message
                        out.put(("input_error", doc, None))
                        continue
                    out.put(("doc", doc, None))
                    for number in doc.pages:
                        if self._stop.is_set():
                            return
                        if self.store is not None and not cfg.force:
                            stored = self.store.load_done(source, number)
                            if stored is not None:
                                out.put(("resumed", doc, PageResult.from_dict(stored)))
                                continue
                        try:
                            page = src.page(number, fam, cfg.budget, dpi=cfg.dpi)
                        except (PageError, InputError) as e:
                            out.put(("page_error", doc, (number, e.message)))
                            continue
                        out.put(("page", doc, page))
        except BaseException as e:  # never let the producer die silently
            out.put(("crash", None, e))
        finally:
            out.put((_END, None, None))

    # -- consumer -------------------------------------------------------------------------------
    def run(self, sources: list[str]) -> Summary:
        t0 = time.perf_counter()
        batch = max(1, self.cfg.batch_size or 8)
        q: queue.Queue = queue.Queue(maxsize=batch * self.cfg.window + 4)
        producer = threading.Thread(target=self._open, args=(sources, q), name="vlparse-render", daemon=True)
        producer.start()
        pending: list[tuple[DocumentRun, object]] = []
        self.listener.on_start(0)
        try:
            while True:
                kind, doc, payload = q.get()
                if kind is _END:
                    break
                if kind == "crash":
                    raise payload  # type: ignore[misc]
                if kind == "doc":
                    self.summary.documents.append(doc)
                elif kind == "input_error":
                    self.summary.documents.append(doc)
                    self.summary.inputs_failed += 1
                    if self.store is not None:
                        self.store.log({"source": doc.source, "page": None, "status": FAILED, "error": doc.error})
                    self.listener.on_input_error(doc)
                    if self.cfg.fail_fast:
                        raise FailFast(f"{doc.source}: {doc.error}")
                elif kind == "resumed":
                    self._finish(doc, payload, resumed=True)  # type: ignore[arg-type]
                elif kind == "page_error":
                    number, msg = payload  # type: ignore[misc]
                    from .geometry import Frame
                    from .model import PageInfo

                    info = PageInfo(doc.source, number, Frame(0, 0, 0, 0), kind=doc.kind)
                    self._finish(doc, PageResult(info, FAILED, error=msg))
                else:
                    pending.append((doc, payload))
                    if self._batch_size() and len(pending) >= self._batch_size() * self.cfg.window:
                        self._process(pending)
                        pending = []
            if pending:
                self._process(pending)
        finally:
            self._stop.set()
        self.summary.seconds = time.perf_counter() - t0
        return self.summary

    def _batch_size(self) -> int:
        if self.cfg.batch_size:
            return self.cfg.batch_size
        return self._backend.batch_size if self._backend is not None else 8

    def _process(self, jobs: list[tuple[DocumentRun, object]]) -> None:
        """Generate for a window of pages: sorted by size, in batches, with retries."""
        jobs.sort(key=lambda j: j[1].image.size[0] * j[1].image.size[1])  # type: ignore[attr-defined]
        backend = self.backend
        size = self.cfg.batch_size or backend.batch_size
        for i in range(0, len(jobs), size):
            self._generate(jobs[i:i + size], backend)

    def _generate(self, jobs, backend: Backend) -> None:
        task, cfg = self.cfg.task, self.cfg
        base = task.decoding
        best: dict[str, PageResult] = {}
        attempts: dict[str, list[dict]] = {}
        todo = [(doc, page, base) for doc, page in jobs]
        for attempt in range(cfg.retries + 1):
            if not todo:
                break
            reqs = [Request(_key(p), p.image, task.prompt, d.max_new_tokens, d.temperature, d.repetition_penalty,
                            cfg.budget.min_pixels, cfg.budget.max_pixels) for _, p, d in todo]
            answers = generate_isolated(backend, reqs)
            retry = []
            for (doc, page, dec), ans in zip(todo, answers):
                key = _key(page)
                if ans.finish_reason == "error":
                    res = PageResult(page.info, FAILED, raw=ans.text, error=ans.error or "generation failed")
                else:
                    try:
                        res = task.parse(ans.text, ans.finish_reason, page.info)
                    except Exception as e:  # a parser bug must not cost the run
                        res = PageResult(page.info, FAILED, raw=ans.text, error=f"could not parse the answer: {e}")
                attempts.setdefault(key, []).append({"attempt": attempt + 1, **dec.to_dict(),
                                                     "finish_reason": ans.finish_reason, "new_tokens": ans.new_tokens,
                                                     "status": res.status})
                if key not in best or quality(res) > quality(best[key]):
                    best[key] = res
                nxt = next_decoding(attempt + 1, res, base) if attempt < cfg.retries and not ans.error else None
                if nxt is not None:
                    retry.append((doc, page, nxt))
            todo = retry
        for doc, page in jobs:
            res = best[_key(page)]
            tries = attempts[_key(page)]
            if len(tries) > 1:
                res.attempts = tries
                res.warnings.append(f"{len(tries)} attempts; kept attempt "
                                    f"{next((t['attempt'] for t in tries if t['status'] == res.status), 1)}")
            self._finish(doc, res)

    def _finish(self, doc: DocumentRun, res: PageResult, resumed: bool = False) -> None:
        doc.results[res.info.page] = res
        if resumed:
            self.summary.pages_resumed += 1
        elif res.status == FAILED:
            self.summary.pages_failed += 1
        else:
            self.summary.pages_done += 1
        if self.store is not None and not resumed:
            self.store.save_page(res)
        self.listener.on_page(res, doc, resumed)
        if doc.complete and not doc.done:
            doc.done = True
            self.listener.on_document(doc)
        if res.status == FAILED and not resumed and self.cfg.fail_fast:
            raise FailFast(f"{res.info.source} page {res.info.page}: {res.error}")


def generate_isolated(backend: Backend, requests: list[Request]) -> list[Answer]:
    """``backend.generate``, but an unexpected failure costs only the pages it concerns.

    Errors that doom the run (:class:`VlparseError`: no model, out of memory at batch 1, server
    unreachable) and interrupts propagate. Anything else is retried page by page, and a page that
    still fails gets an error answer, so one odd page never stops a night's run.
    """
    try:
        return backend.generate(requests)
    except VlparseError:
        raise
    except Exception as e:  # noqa: BLE001 - isolation is the point
        if len(requests) == 1:
            return [Answer(requests[0].key, "", "error", error=f"generation failed: {type(e).__name__}: "
                                                                 f"{' '.join(str(e).split())[:200]}")]
        return [a for r in requests for a in generate_isolated(backend, [r])]


def _key(page) -> str:
    return f"{page.info.source}#{page.info.page}"
