"""One pipeline for every command: inputs -> pages -> requests -> backend -> parse -> results.

- Pages of all inputs are rendered by a background thread (overlapping the model's work) and
  grouped into model batches across documents, sorted by size so little padding is wasted.
- Each page is isolated: a page that cannot be rendered or answered is recorded as failed and the
  run goes on (``fail_fast`` stops instead). Inputs that cannot be opened likewise.
- Truncated or looping answers are retried with another decoding setup; the best attempt is kept
  and every attempt is recorded on the page.
- With a :class:`~vlparse.run.store.Store`, every finished page is saved atomically before it is
  reported, and pages already done by an earlier run of the same settings are loaded, not redone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from vlparse.backends.base import Answer, Backend, Request
from vlparse.core.errors import EXIT_OK, EXIT_PARTIAL, InputError, OutputError, VlparseError
from vlparse.core.geometry import Budget
from vlparse.core.options import RETRIES
from vlparse.core.results import FAILED, OK, REPAIRED, PageResult
from vlparse.run.store import Store
from vlparse.run.tasks import Decoding, Task, next_decoding, quality


@dataclass(kw_only=True)
class RunConfig:
    task: Task
    budget: Budget
    pages: str | None = None  # page selection, e.g. "1-3,7"
    dpi: float | None = None
    password: str | None = None
    retries: int = RETRIES
    fail_fast: bool = False
    force: bool = False
    batch_size: int | None = None  # None: the backend's own choice
    window: int = 4  # sort pages by size within this many batches
    text_layer: bool = False  # the renderer also reads each PDF page's text layer (page.text_layer)
    finish_page: Callable[[PageResult, object], None] | None = None  # called on each page's final result
    #: rendered pages held ahead of the model (queued, pending or in flight), in bytes of pixels: the renderer
    #: waits beyond it, and pending pages go to the model once half of it is waiting (one page always passes)
    render_ahead_bytes: int = 192 << 20


@dataclass
class DocumentRun:
    """One input while the run goes on."""

    source: str
    kind: str = ""
    pages: list[int] = field(default_factory=list)
    results: dict[int, PageResult] = field(default_factory=dict)
    error: str | None = None  # the input could not be opened
    done: bool = False
    resumed: int = 0  # pages loaded from an earlier run
    warnings: list[str] = field(default_factory=list)  # about the whole input (a PDF MuPDF had to repair)
    page_count: int = 0  # pages (frames) the input has

    @property
    def complete(self) -> bool:
        return self.error is None and bool(self.pages) and len(self.results) == len(self.pages)

    def ordered(self) -> list[PageResult]:
        return [self.results[p] for p in self.pages if p in self.results]


class Listener:
    """Callbacks the commands implement (exports, JSONL, progress). All optional."""

    def on_opened(self, doc: DocumentRun) -> None: ...  # an input was opened: its pages are known
    def on_page(self, result: PageResult, doc: DocumentRun, resumed: bool) -> None: ...
    def on_document(self, doc: DocumentRun) -> None: ...
    def on_input_error(self, doc: DocumentRun) -> None: ...


@dataclass
class Summary:
    pages_done: int = 0
    pages_resumed: int = 0
    pages_failed: int = 0
    inputs_failed: int = 0
    documents_failed: int = 0  # pages done, but the document's exports failed (isolated like a page)
    seconds: float = 0.0
    documents: list[DocumentRun] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if (self.pages_failed or self.inputs_failed or self.documents_failed) else EXIT_OK


class FailFast(VlparseError):
    exit_code = EXIT_PARTIAL


_END = object()


@dataclass
class _Work:
    """One page on its way through the model, with its attempts so far."""

    doc: DocumentRun
    page: object  # vlparse.pages.render.RenderedPage
    decoding: Decoding
    tries: list[dict] = field(default_factory=list)
    feedback: str | None = None  # extract: the schema violations of the last attempt, given back to the model
    best: PageResult | None = None
    best_attempt: int = 0

    @property
    def key(self) -> str:
        return _key(self.page)


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
        self._ahead = 0  # bytes of rendered pages not yet finished
        self._ahead_cv = threading.Condition()
        self._starved = False

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def close(self) -> None:
        self._stop.set()
        with self._ahead_cv:
            self._ahead_cv.notify_all()
        if self._backend is not None:
            self._backend.close()

    # -- producer: open inputs, resume finished pages, render the rest ---------------------------
    def _put(self, out: queue.Queue, item) -> bool:
        """Queue ``item`` unless the run stopped meanwhile (False: stop producing)."""
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _reserve(self, nbytes: int) -> bool:
        """Wait until ``nbytes`` more rendered pixels fit the render-ahead budget (False: the run stopped)."""
        with self._ahead_cv:
            while self._ahead > 0 and self._ahead + nbytes > self.cfg.render_ahead_bytes:
                if self._stop.is_set():
                    return False
                self._starved = True  # the consumer sends what it holds to the model instead of waiting for more
                self._ahead_cv.wait(0.1)
            self._starved = False
            self._ahead += nbytes
            return not self._stop.is_set()

    def _release(self, page) -> None:
        with self._ahead_cv:
            self._ahead -= _nbytes(page)
            self._ahead_cv.notify_all()

    def _open(self, sources: Iterable[str], out: queue.Queue) -> None:
        from vlparse.pages.render import PageError, open_source, parse_page_selection, source_name

        fam, cfg = self.cfg.task.family, self.cfg
        put = lambda item: self._put(out, item)  # noqa: E731
        try:
            for source in sources:
                if self._stop.is_set():
                    break
                doc = DocumentRun(source_name(source))
                try:
                    src = open_source(source, password=cfg.password)
                except InputError as e:
                    doc.error = e.message
                    if not put(("input_error", doc, None)):
                        return
                    continue
                with src:
                    if self.store is not None:
                        self.store.identity(source)  # the file as opened, before anything can change it
                    doc.kind = src.kind
                    doc.page_count = src.page_count
                    doc.warnings = list(src.warnings)
                    try:  # a multi-page TIFF honours the selection like a PDF; a single image is its one page
                        doc.pages = parse_page_selection(cfg.pages, src.page_count) \
                            if src.kind == "pdf" or src.page_count > 1 else [1]
                    except VlparseError as e:
                        doc.error = e.message
                        if not put(("input_error", doc, None)):
                            return
                        continue
                    if not put(("doc", doc, None)):
                        return
                    for number in doc.pages:
                        if self._stop.is_set():
                            return
                        if self.store is not None and not cfg.force:
                            stored = self.store.load_done(doc.source, number)
                            if stored is not None:
                                if not put(("resumed", doc, PageResult.from_dict(stored))):
                                    return
                                continue
                        try:
                            page = src.page(number, fam, cfg.budget, dpi=cfg.dpi)
                        except (PageError, InputError) as e:
                            if not put(("page_error", doc, (number, e.message))):
                                return
                            continue
                        if cfg.text_layer and src.kind == "pdf":
                            try:
                                page.text_layer = src.text_layer(number)
                            except PageError:
                                page.text_layer = None  # verification says the layer could not be read
                        if not self._reserve(_nbytes(page)) or not put(("page", doc, page)):
                            return
        except BaseException as e:  # never let the producer die silently
            put(("crash", None, e))
        finally:
            put((_END, None, None))

    # -- consumer -------------------------------------------------------------------------------
    def run(self, sources: list[str]) -> Summary:
        """Process every page of ``sources``; returns the summary (exports happen in the listener)."""
        t0 = time.perf_counter()
        batch = max(1, self.cfg.batch_size or 8)
        q: queue.Queue = queue.Queue(maxsize=batch * self.cfg.window + 4)
        producer = threading.Thread(target=self._open, args=(sources, q), name="vlparse-render", daemon=True)
        producer.start()
        self._pending_bytes = 0
        self._pending: list[_Work] = []  # batch backends: a window of pages, generated in size-sorted batches
        self._inflight: dict[Future, _Work] = {}  # streaming backends: requests on their way
        ended = False
        try:
            while True:
                if self._inflight and (ended or len(self._inflight) >= self._stream_limit()):
                    self._collect(block=True)
                    continue
                if ended:
                    if self._pending:
                        self._process(self._pending)
                        self._pending = []
                        self._pending_bytes = 0
                        continue
                    break
                try:
                    kind, doc, payload = q.get(timeout=0.02 if self._inflight else 0.1 if self._pending else None)
                except queue.Empty:
                    if self._inflight:
                        self._collect(block=False)
                    elif self._pending and self._starved:  # the renderer waits for room: use what is here
                        self._process(self._pending)
                        self._pending = []
                        self._pending_bytes = 0
                    continue
                if kind is _END:
                    ended = True
                elif kind == "crash":
                    raise payload  # type: ignore[misc]
                else:
                    self._take(kind, doc, payload)
                if self._inflight:
                    self._collect(block=False)
        finally:
            # stop the renderer and wait for it, so its open inputs are closed when run() returns or raises
            self._stop.set()
            with self._ahead_cv:
                self._ahead_cv.notify_all()
            while producer.is_alive():
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            producer.join()
        self.summary.seconds = time.perf_counter() - t0
        return self.summary

    def _take(self, kind: str, doc: DocumentRun, payload) -> None:
        """One item from the renderer: a document opened, an input or page that failed, a page to do."""
        if kind == "doc":
            self.summary.documents.append(doc)
            if doc.warnings:
                from vlparse.run import console

                for w in doc.warnings:
                    console.warn(f"{doc.source}: {w}")
                    if self.store is not None:
                        self.store.log({"source": doc.source, "page": None, "status": "warning", "warning": w})
            self.listener.on_opened(doc)
        elif kind == "input_error":
            self.summary.documents.append(doc)
            self.summary.inputs_failed += 1
            if self.store is not None:
                self.store.log({"source": doc.source, "page": None, "status": FAILED, "error": doc.error})
            self.listener.on_input_error(doc)
            if self.cfg.fail_fast:
                raise FailFast(f"{doc.source}: {doc.error}")
        elif kind == "resumed":
            self._finish(doc, payload, resumed=True)
        elif kind == "page_error":
            from vlparse.core.geometry import Frame
            from vlparse.core.results import PageInfo

            number, msg = payload
            self._finish(doc, PageResult(PageInfo(doc.source, number, Frame(0, 0, 0, 0), kind=doc.kind), FAILED,
                                         error=msg))
        else:
            work = _Work(doc, payload, self.cfg.task.decoding)
            if self.backend.streaming:
                self._submit(work)
            else:
                self._pending.append(work)
                self._pending_bytes += _nbytes(work.page)
                if (len(self._pending) >= self._batch_size() * self.cfg.window
                        or self._pending_bytes * 2 >= self.cfg.render_ahead_bytes):
                    self._process(self._pending)
                    self._pending = []
                    self._pending_bytes = 0

    def _batch_size(self) -> int:
        return self.cfg.batch_size or self.backend.batch_size

    # -- batch backends (local models): size-sorted batches, retries batch by batch --------------------
    def _process(self, works: list[_Work]) -> None:
        works.sort(key=lambda w: w.page.image.size[0] * w.page.image.size[1])
        size = self._batch_size()
        for i in range(0, len(works), size):
            todo = works[i:i + size]
            while todo:
                answers = generate_isolated(self.backend, [self._request(w) for w in todo])
                todo = [w for w, ans in zip(todo, answers) if self._settle(w, ans)]

    # -- streaming backends (servers): keep every slot busy, settle pages as their answers arrive -----
    def _stream_limit(self) -> int:
        return 2 * self._batch_size()  # the backend's slots, plus as many ready to take a freed slot

    def _submit(self, work: _Work) -> None:
        self._inflight[self.backend.submit(self._request(work))] = work

    def _collect(self, block: bool) -> None:
        done, _ = wait(list(self._inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for fut in done:
            work = self._inflight.pop(fut)
            try:
                answer = fut.result()
            except VlparseError:
                raise
            except Exception as e:  # noqa: BLE001 - one odd page never stops the run
                answer = Answer(work.key, "", "error", error=f"generation failed: {type(e).__name__}: {e}")
            if self._settle(work, answer):
                self._submit(work)

    # -- one answer for one page: parse, keep the best attempt, retry or finish ------------------------
    def _request(self, w: _Work) -> Request:
        d, cfg = w.decoding, self.cfg
        return Request(w.key, w.page.image, cfg.task.prompt_for(w.feedback), d.max_new_tokens, d.temperature, d.repetition_penalty,
                       cfg.budget.min_pixels, cfg.budget.max_pixels)

    def _settle(self, w: _Work, ans: Answer) -> bool:
        """Record the answer of ``w``'s current attempt. True: try again (``w.decoding`` is the next setup);
        False: the page is finished with its best attempt."""
        task = self.cfg.task
        if ans.finish_reason == "error":
            res = PageResult(w.page.info, FAILED, raw=ans.text, error=ans.error or "generation failed")
        else:
            try:
                res = task.parse(ans.text, ans.finish_reason, w.page.info, context_limit=ans.meta.get("max_tokens"))
            except Exception as e:  # noqa: BLE001 - a parser bug must not cost the run
                res = PageResult(w.page.info, FAILED, raw=ans.text, error=f"could not parse the answer: {e}")
        if getattr(w.page, "warnings", None):  # the input's own trouble (a repaired PDF, an odd /Rotate)
            res.warnings[:0] = w.page.warnings
            if res.status == OK:
                res.status = REPAIRED
        w.tries.append({"attempt": len(w.tries) + 1, **w.decoding.to_dict(), "finish_reason": ans.finish_reason,
                        "new_tokens": ans.new_tokens, "status": res.status,
                        **({"feedback": True} if w.feedback else {})})
        if w.best is None or quality(res) > quality(w.best):
            w.best, w.best_attempt = res, len(w.tries)
        attempt = len(w.tries)
        nxt = next_decoding(attempt, res, task.decoding) if attempt <= self.cfg.retries and not ans.error else None
        if nxt is not None:
            w.decoding, w.feedback = nxt, None
            return True
        fb = task.feedback(res) if attempt <= self.cfg.retries and not ans.error else None
        if fb is not None and not any(t.get("feedback") for t in w.tries):  # once: the errors given back
            w.feedback = fb
            return True
        self._release(w.page)
        best = w.best
        if len(w.tries) > 1:
            best.attempts = w.tries
            best.warnings.append(f"{len(w.tries)} attempts; kept attempt {w.best_attempt}")
        if self.cfg.finish_page is not None:
            self.cfg.finish_page(best, w.page)
        self._finish(w.doc, best)
        return False

    def _finish(self, doc: DocumentRun, res: PageResult, resumed: bool = False) -> None:
        doc.results[res.info.page] = res
        if resumed:
            self.summary.pages_resumed += 1
            doc.resumed += 1
        elif res.status == FAILED:
            self.summary.pages_failed += 1
        else:
            self.summary.pages_done += 1
        if self.store is not None and not resumed:
            self.store.save_page(res)
        self.listener.on_page(res, doc, resumed)
        if doc.complete and not doc.done:
            doc.done = True
            self._document_done(doc)
        if res.status == FAILED and not resumed and self.cfg.fail_fast:
            raise FailFast(f"{res.info.source} page {res.info.page}: {res.error}")


    def _document_done(self, doc: DocumentRun) -> None:
        """Exports of a finished document. A failure here is isolated like a page failure (one line, the
        manifest, exit 1, the other inputs go on), except an output that cannot be written at all (full disk,
        read-only directory: :class:`OutputError`) and interrupts, which stop the run."""
        from vlparse.run import console

        try:
            self.listener.on_document(doc)
        except (OutputError, FailFast, BrokenPipeError):
            raise
        except Exception as e:  # noqa: BLE001 - one document's exports never cost the other inputs
            msg = e.message if isinstance(e, VlparseError) else f"{type(e).__name__}: {' '.join(str(e).split())}"
            doc.error = f"exports failed: {msg}"[:300]
            self.summary.documents_failed += 1
            console.error(f"{doc.source}: {doc.error}")
            if self.store is not None:
                self.store.log({"source": doc.source, "page": None, "status": FAILED, "error": doc.error})
            if self.cfg.fail_fast:
                raise FailFast(f"{doc.source}: {doc.error}") from None


def _nbytes(page) -> int:
    """The memory a rendered page holds: Pillow keeps RGB (and RGBA) pixels in 4 bytes, L in 1."""
    image = page.image
    return image.size[0] * image.size[1] * (1 if len(image.getbands()) == 1 else 4)


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
