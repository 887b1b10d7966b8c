"""The Python API: :func:`parse`, :func:`ground` and the long-lived :class:`Parser`.

The CLI runs the same code: the task, the run settings and the pipeline come from
:mod:`vlparse.run.job` for both; the CLI adds files, exports and progress on top.

Nothing here prints. A page that fails does not raise: its ``status`` is ``"failed"`` and the result's
``ok`` is False. Exceptions (:mod:`vlparse.core.errors`) only when the call cannot run at all: unusable
options (``UsageError``), an input that cannot be opened when it is the only one (``InputError``), a
model that cannot load (``ModelError``), a server that cannot be reached (``BackendError``), out of
memory even one page at a time (``OutOfMemoryError``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union

from vlparse.backends.base import Answer, Backend, Request
from vlparse.core import results as _results
from vlparse.core.errors import InputError, UsageError
from vlparse.core.options import BackendOptions, RunOptions
from vlparse.core.results import GroundResult, PageResult
from vlparse.pages.render import InMemory, source_name
from vlparse.run.pipeline import DocumentRun, Listener

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

#: what :func:`parse` and :func:`ground` read: a path, the bytes of a PDF or an image, or a PIL image
Source = Union[str, "os.PathLike[str]", bytes, "Image"]
#: ``progress=``: True for a bar on stderr, or a function called after each page as ``fn(done, total, page)``
Progress = Union[bool, Callable[[int, int, PageResult], Any], None]

_BACKEND_FIELDS = {f.name for f in dataclasses.fields(BackendOptions)}
_RUN_FIELDS = {"pages", "max_pixels", "min_pixels", "dpi", "password", "max_new_tokens", "retries", "prompt_file",
               "date_order", "answer_format"}


class Document(_results.Document):
    """One parsed input, with its pages and blocks: the JSON ``vlparse doc --json`` writes.

    Examples:
        >>> doc = Document.from_dict({"source": "a.pdf", "family": "qwen2.5-vl", "model": "m", "pages": []})
        >>> doc.to_dict()["schema_version"]
        1
    """

    def to_markdown(self) -> str:
        """The document as Markdown (what ``vlparse doc --md`` writes).

        Returns:
            The Markdown text.
        """
        from vlparse.export.markdown import render_markdown

        return render_markdown(self)

    def to_html(self) -> str:
        """The document as a self-contained HTML page whose blocks keep ``data-bbox`` (``vlparse doc --html``).

        Returns:
            The HTML text.
        """
        from vlparse.export.html import render_html

        return render_html(self)

    def chunks(self, *, max_tokens: int = 512, tokenizer: Any = None,
               count_tokens: Callable[[str], int] | None = None) -> list:
        """Retrieval chunks in reading order, heading-aware, with the page and boxes of every block (``--chunks``).

        Args:
            max_tokens: the most tokens a chunk holds (tables, formulas, code and list items are never split).
            tokenizer: a Hugging Face tokenizer to count with; without it (and ``count_tokens``) characters/4.
            count_tokens: any ``text -> int`` counter instead.

        Returns:
            A list of :class:`vlparse.export.chunks.Chunk` (``to_dict()`` is a ``--chunks`` JSONL line).
        """
        from vlparse.export.chunks import chunk_document

        return chunk_document(self, max_tokens=max_tokens, tokenizer=tokenizer, count_tokens=count_tokens)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The document as JSON, exactly as ``vlparse doc --json`` writes it.

        Args:
            indent: JSON indentation (None for one line).

        Returns:
            The JSON text.
        """
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent) + ("\n" if indent else "")


def _as_input(item: Any, index: int) -> str | InMemory:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return InMemory(f"<bytes {index}>", data=bytes(item))
    if hasattr(item, "size") and hasattr(item, "convert"):  # a PIL image
        return InMemory(f"<image {index}>", image=item)
    raise UsageError(f"cannot read a {type(item).__name__}: give a path, bytes or a PIL image")


def _as_inputs(source: Any) -> tuple[list[str | InMemory], bool]:
    """(inputs, whether ``source`` was a list)."""
    if isinstance(source, (list, tuple)):
        if not source:
            raise UsageError("no inputs")
        return [_as_input(x, i) for i, x in enumerate(source, start=1)], True
    return [_as_input(source, 1)], False


class _Batcher:
    """Batches the requests of concurrent calls together on the parser's one model.

    A call's batch waits while the model is busy; when it frees up, the batches waiting are generated as one
    (up to the backend's batch size), and each call gets its own answers back, in order.
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self.cv = threading.Condition()
        self.waiting: list[dict] = []
        self.busy = False
        self.batches: list[int] = []  # the size of every batch generated (for tests and curiosity)

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        slot: dict = {"requests": list(requests), "answers": None, "error": None}
        with self.cv:
            self.waiting.append(slot)
            while slot["answers"] is None and slot["error"] is None and (self.busy or slot not in self.waiting):
                self.cv.wait()
            if slot["answers"] is None and slot["error"] is None:  # the model is free: lead the next batch
                self.busy = True
                self.waiting.remove(slot)
                take, size = [slot], len(slot["requests"])
                for s in list(self.waiting):  # then the others waiting, in order, as far as the batch size allows
                    if size + len(s["requests"]) > self.backend.batch_size:
                        break
                    take.append(s)
                    size += len(s["requests"])
                    self.waiting.remove(s)
        if slot["answers"] is None and slot["error"] is None:
            try:
                combined = [r for s in take for r in s["requests"]]
                self.batches.append(len(combined))
                answers = self.backend.generate(combined)
                for s in take:
                    s["answers"], answers = answers[:len(s["requests"])], answers[len(s["requests"]):]
            except BaseException as e:  # every call of the batch sees the error
                for s in take:
                    s["error"] = e
            finally:
                with self.cv:
                    self.busy = False
                    self.cv.notify_all()
        if slot["error"] is not None:
            raise slot["error"]
        return slot["answers"]


class _Shared(Backend):
    """The parser's backend lent to one call: batches of concurrent calls are generated together; the call's
    end does not close it."""

    def __init__(self, inner: Backend, batcher: _Batcher):
        self.inner, self.batcher = inner, batcher
        self.name, self.family, self.model_name = inner.name, inner.family, inner.model_name
        self.batch_size, self.streaming = inner.batch_size, inner.streaming

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        return self.batcher.generate(requests)

    def submit(self, request: Request):
        return self.inner.submit(request)  # servers schedule concurrent requests themselves

    def close(self) -> None:
        pass


class _Collect(Listener):
    """Keeps what a run produced, and reports progress when asked."""

    def __init__(self, progress: Progress):
        self.callback = progress if callable(progress) else None
        self.done = 0
        self.total = 0

    def on_opened(self, doc: DocumentRun) -> None:
        self.total += len(doc.pages)

    def on_page(self, result: PageResult, doc: DocumentRun, resumed: bool) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total, result)


class Parser:
    """A model loaded (or a server connected) once, serving many :meth:`parse` and :meth:`ground` calls.

    The model loads on the first call that needs it and stays loaded until :meth:`close` (or the end of
    the ``with`` block), which releases the GPU memory. Pages of all the inputs of one call are batched
    together, and so are the pages of calls made at the same time from several threads (a web service's
    requests, say): while the model works on one batch, the others' pages wait and then go in together.

    Args:
        model: Hub id or local directory of a Qwen VL checkpoint (default: ``$VLPARSE_MODEL`` or
            ``Qwen/Qwen2.5-VL-7B-Instruct``).
        family: ``qwen-vl``, ``qwen2-vl``, ``qwen2.5-vl`` or ``qwen3-vl`` (default: read from the model's config;
            needed with ``from_output``).
        backend: ``"local"`` (transformers on this machine) or ``"openai"`` (a vLLM / SGLang server).
        from_output: recorded raw answers (a file, or a directory of ``page-N.html`` files) instead of a model.
        **options: any other field of :class:`vlparse.core.options.BackendOptions` (``dtype``, ``quant``,
            ``device``, ``attn``, ``batch_size``, ``fast``, ``base_urls``, ``api_key``, ``api_model``,
            ``concurrency``, ``timeout``); ``base_url`` is accepted for ``base_urls``.

    Raises:
        UsageError: an option is not valid.

    Examples:
        >>> with Parser(family="qwen2.5-vl", from_output="examples/answers/qwen2.5-vl/sample-pdf") as parser:
        ...     doc = parser.parse("examples/sample.pdf")
        >>> doc.ok, len(doc.pages)
        (True, 2)
    """

    def __init__(self, *, model: str | None = None, family: str | None = None, backend: str = "local",
                 from_output: str | os.PathLike | None = None, **options: Any):
        if "base_url" in options:
            url = options.pop("base_url")
            options["base_urls"] = [url] if isinstance(url, str) else url  # BackendOptions checks the rest
        unknown = set(options) - _BACKEND_FIELDS
        if unknown:
            raise UsageError(f"unknown option(s): {', '.join(sorted(unknown))}")
        self.options = BackendOptions(model=model, family=family, backend=backend, from_output=from_output, **options)
        self._family = None
        self._backend: Backend | None = None
        self._batcher: _Batcher | None = None
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._running: list[int] = []  # the threads inside a call (close waits for them)
        self._closed = False

    @property
    def family(self):
        """The model family (:class:`vlparse.core.families.Family`): decides rendering and parsing."""
        with self._lock:  # once, even when the first calls come from several threads at the same time
            if self._family is None:
                from vlparse.backends.factory import resolve_family

                self._family = resolve_family(self.options)
        return self._family

    @property
    def model_name(self) -> str:
        """What answers, as results record it (``"recorded"`` for recorded answers)."""
        return self.options.run_model

    def _factory(self, cfg) -> Callable[[], Backend]:
        from vlparse.backends.factory import backend_factory
        from vlparse.run.job import only_page

        if self._closed:
            raise UsageError("this Parser is closed")
        if self.options.from_output is not None:  # cheap, and tied to the call's page selection
            return backend_factory(self.options, self.family, only_page=only_page(cfg))

        def shared() -> Backend:
            with self._lock:
                if self._backend is None:
                    self._backend = backend_factory(self.options, self.family)()
                    self._batcher = _Batcher(self._backend)
            return _Shared(self._backend, self._batcher)

        return shared

    def _run(self, inputs, task, cfg, progress: Progress) -> tuple[_Collect, Any]:
        from vlparse.run.job import execute

        if not (progress is None or isinstance(progress, bool) or callable(progress)):
            raise UsageError(f"progress must be True, False or a function fn(done, total, page) (got {progress!r})")
        collect = _Collect(progress)
        listener: Listener = collect
        bar = None
        with self._lock:
            if self._closed:
                raise UsageError("this Parser is closed")
            self._running.append(threading.get_ident())
        try:
            if progress is True:
                from vlparse.run.progress import ProgressListener

                listener = bar = ProgressListener(collect)
            summary = execute(cfg, self._factory(cfg), inputs, listener=listener)
        finally:
            if bar is not None:
                bar.close()
            with self._lock:
                self._running.remove(threading.get_ident())
                self._idle.notify_all()
        return collect, summary

    def parse(self, source: Source | Sequence[Source], *, pages: str | None = None, max_pixels: int | None = None,
              min_pixels: int | None = None, dpi: float | None = None, password: str | None = None,
              max_new_tokens: int | None = None, retries: int | None = None, prompt_file: str | None = None,
              answer_format: str = "html", progress: Progress = False) -> Document | list[Document]:
        """Parse documents into blocks (QwenVL HTML, validated and mapped to page coordinates).

        Args:
            source: a path, the bytes of a PDF or an image, a PIL image, or a list of them.
            pages: page selection of PDFs, e.g. ``"1-3,7"`` (default: all).
            max_pixels: pixel budget of the image the model sees (default: the family's document budget).
            min_pixels: lower pixel bound (default: the family's).
            dpi: upper bound on the PDF rendering resolution.
            password: password of encrypted PDFs.
            max_new_tokens: token limit per page answer (default: ``core.options.MAX_NEW_TOKENS``, 8192).
            retries: extra attempts for truncated or looping answers (default: 1).
            prompt_file: a prompt of your own (TOML with user/system, or plain text).
            answer_format: ``"html"`` (QwenVL HTML, every block boxed) or ``"qwenvl-markdown"`` (Qwen3-VL's QwenVL
                Markdown: only tables and images carry boxes).
            progress: True for a progress bar on stderr, or ``fn(done, total, page)`` called after each page.

        Returns:
            A :class:`Document` (a list of them when ``source`` is a list). An input of a list that cannot be
            opened gives a Document with ``error`` set and no pages.

        Raises:
            InputError: ``source`` is a single input that cannot be opened.
            UsageError: an option is not valid.

        Examples:
            >>> parser = Parser(family="qwen2.5-vl", from_output="examples/answers/qwen2.5-vl/sample-pdf")
            >>> doc = parser.parse("examples/sample.pdf", pages="1")
            >>> [block.type for page, block in doc.iter_blocks()][:2]
            ['header', 'heading']
        """
        from vlparse.run.job import doc_job

        inputs, many = _as_inputs(source)
        opts = self._run_options(pages=pages, max_pixels=max_pixels, min_pixels=min_pixels, dpi=dpi,
                                 password=password, max_new_tokens=max_new_tokens, retries=retries,
                                 prompt_file=prompt_file)
        from vlparse.core.options import DocOptions

        opts = DocOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)},
                          answer_format=answer_format)
        task, cfg = doc_job(self.family, opts)
        _, summary = self._run(inputs, task, cfg, progress)
        runs = {d.source: d for d in summary.documents}
        docs = []
        for item in inputs:
            run = runs.get(source_name(item))
            doc = Document(source_name(item), self.family.name, self.model_name, run.ordered() if run else [],
                           run.error if run else "not read")
            docs.append(doc)
        if not many and docs[0].error is not None:
            raise InputError(f"{docs[0].source}: {docs[0].error}")
        return docs if many else docs[0]

    def ground(self, image: Source | Sequence[Source], queries: str | Sequence[str], *, points: bool = False,
               pages: str | None = None, max_pixels: int | None = None, min_pixels: int | None = None,
               dpi: float | None = None, password: str | None = None, max_new_tokens: int | None = None,
               retries: int | None = None, prompt_file: str | None = None,
               progress: Progress = False) -> GroundResult:
        """Find boxes (or points) for text queries; coordinates in the original image's pixels.

        Args:
            image: a path (an image, or a PDF with ``pages``), bytes, a PIL image, or a list of them.
            queries: what to find, e.g. ``"red car"`` or ``["cat", "dog"]``.
            points: ask for points instead of boxes (Qwen-VL and Qwen2-VL answer with boxes: their centres
                become the points).
            pages: PDF pages, e.g. ``"3"``.
            max_pixels: pixel budget (default: the family's grounding budget).
            min_pixels: lower pixel bound (default: the family's).
            dpi: upper bound on the PDF rendering resolution.
            password: password of encrypted PDFs.
            max_new_tokens: token limit per answer (default: ``core.options.MAX_NEW_TOKENS``, 2048).
            retries: extra attempts for truncated or looping answers (default: 1).
            prompt_file: a prompt of your own.
            progress: True for a progress bar on stderr, or ``fn(done, total, page)`` called after each image.

        Returns:
            A :class:`GroundResult`: one page result per image (``images``), each with its ``detections``.

        Raises:
            InputError: ``image`` is a single input that cannot be opened.
            UsageError: no query, or an option that is not valid.

        Examples:
            >>> parser = Parser(family="qwen3-vl", from_output="examples/answers/qwen3-vl/shapes-ground.txt")
            >>> result = parser.ground("examples/shapes.png", "red car")
            >>> [round(v) for v in result.detections[0].bbox]
            [110, 165, 340, 325]
        """
        from vlparse.run.job import ground_job

        inputs, _ = _as_inputs(image)
        qs = [queries] if isinstance(queries, str) else list(queries) if isinstance(queries, (list, tuple)) else None
        if qs is None or not all(isinstance(q, str) for q in qs):
            raise UsageError(f"queries must be a string or a list of strings (got {queries!r})")
        opts = self._run_options(pages=pages, max_pixels=max_pixels, min_pixels=min_pixels, dpi=dpi,
                                 password=password, max_new_tokens=max_new_tokens, retries=retries,
                                 prompt_file=prompt_file)
        task, cfg = ground_job(self.family, opts, qs, points)
        _, summary = self._run(inputs, task, cfg, progress)
        runs = {d.source: d for d in summary.documents}
        result = GroundResult(self.family.name, self.model_name, list(task.queries), points)
        for item in inputs:
            run = runs.get(source_name(item))
            if run is None or run.error is not None:
                result.errors[source_name(item)] = run.error if run else "not read"
            else:
                result.images.extend(run.ordered())
        if len(inputs) == 1 and result.errors:
            [(name, error)] = result.errors.items()
            raise InputError(f"{name}: {error}")
        return result

    def extract(self, source: Source | Sequence[Source], schema: Any, *, date_order: str = "dmy",
                pages: str | None = None, max_pixels: int | None = None, min_pixels: int | None = None,
                dpi: float | None = None, password: str | None = None, max_new_tokens: int | None = None,
                retries: int | None = None, prompt_file: str | None = None,
                progress: Progress = False) -> dict[str, Any] | list[dict[str, Any]]:
        """The fields of ``schema`` from documents, every value with the page and box it was read from.

        Args:
            source: a path, bytes, a PIL image, or a list of them.
            schema: a Pydantic model class, a JSON Schema dict, or field specs (``["total:number", "vendor"]``):
                scalars (string, number, integer, date, boolean) and arrays of flat objects (line items).
            date_order: ``"dmy"`` or ``"mdy"``: how numeric dates whose day and month could be swapped are read
                (such values are flagged).
            pages, max_pixels, min_pixels, dpi, password, max_new_tokens, retries, prompt_file, progress: as for
                :meth:`parse` (``max_new_tokens`` defaults to ``core.options.MAX_NEW_TOKENS``, 4096).

        Returns:
            The record of the document (a list of them when ``source`` is a list), as ``vlparse extract``
            writes it: ``values`` (plain values), ``fields`` (each value with ``page``, ``bbox_px``, ``bbox_pt``,
            ``text_match``, ``flags``), ``conflicts``, ``missing``, ``flagged``, ``valid`` and ``errors``. An
            input of a list that cannot be opened gives a record with ``error`` set.

        Raises:
            InputError: ``source`` is a single input that cannot be opened.
            UsageError: the schema or an option is not valid, or the family cannot answer with boxes in JSON.

        Examples:
            >>> parser = Parser(family="qwen3-vl", from_output="examples/answers/qwen3-vl/invoice-extract.jsonl")
            >>> record = parser.extract("examples/invoice.pdf", ["invoice_number", "total:number"])
            >>> record["values"], record["fields"]["total"]["page"]
            ({'invoice_number': 'INV-2024-0042', 'total': 2274.5}, 2)
        """
        from vlparse.core.results import SCHEMA_VERSION
        from vlparse.run.extract import document_record, extract_job

        inputs, many = _as_inputs(source)
        opts = self._run_options(pages=pages, max_pixels=max_pixels, min_pixels=min_pixels, dpi=dpi,
                                 password=password, max_new_tokens=max_new_tokens, retries=retries,
                                 prompt_file=prompt_file)
        task, cfg, sch = extract_job(self.family, opts, schema, date_order)
        _, summary = self._run(inputs, task, cfg, progress)
        runs = {d.source: d for d in summary.documents}
        records = []
        for item in inputs:
            run = runs.get(source_name(item))
            if run is None or run.error is not None:
                records.append({"schema_version": SCHEMA_VERSION, "source": source_name(item),
                                "error": run.error if run else "not read"})
            else:
                records.append(document_record(run, sch, self.family, self.model_name, password, task.date_order))
        if not many and "error" in records[0]:
            raise InputError(f"{records[0]['source']}: {records[0]['error']}")
        return records if many else records[0]

    def _run_options(self, **given: Any) -> RunOptions:
        values = {k: v for k, v in given.items() if v is not None}
        return RunOptions(backend=self.options, **values)

    def close(self) -> None:
        """Release the model (GPU memory) or the server connections. The parser cannot be used afterwards.

        Calls already running (from other threads) finish first; new calls raise :class:`UsageError`.
        """
        me = threading.get_ident()
        with self._lock:
            self._closed = True
            while any(t != me for t in self._running):  # not from under a call's own progress callback
                self._idle.wait()
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    run = {k: options.pop(k) for k in list(options) if k in _RUN_FIELDS or k == "progress"}
    return options, run


def parse(source: Source | Sequence[Source], *, model: str | None = None, family: str | None = None,
          backend: str = "local", from_output: str | os.PathLike | None = None,
          **options: Any) -> Document | list[Document]:
    """Parse PDFs and images into blocks with one call (the model loads, serves the call, and is released).

    For many calls, keep a :class:`Parser`: it loads the model once.

    Args:
        source: a path, the bytes of a PDF or an image, a PIL image, or a list of them.
        model: Hub id or local directory of a Qwen VL checkpoint.
        family: the model family (default: from the model's config; needed with ``from_output``).
        backend: ``"local"`` or ``"openai"`` (then ``base_url=``).
        from_output: recorded raw answers instead of a model, as ``vlparse doc --from-output``.
        **options: the options of :class:`Parser` (``dtype``, ``device``, ``base_url``...) and of
            :meth:`Parser.parse` (``pages``, ``max_pixels``, ``dpi``, ``max_new_tokens``, ``progress``...).

    Returns:
        A :class:`Document`, or a list of them for a list of sources.

    Raises:
        InputError: a single source cannot be opened.
        ModelError: the model cannot be loaded.
        BackendError: the server cannot be reached.
        OutOfMemoryError: out of memory even one page at a time.

    Examples:
        >>> import vlparse
        >>> doc = vlparse.parse("examples/sample.pdf", family="qwen2.5-vl",
        ...                     from_output="examples/answers/qwen2.5-vl/sample-pdf")
        >>> doc.ok, doc.pages[0].blocks[1].text
        (True, 'Quarterly Report: Third Quarter')
    """
    backend_opts, run_opts = _split(dict(options))
    with Parser(model=model, family=family, backend=backend, from_output=from_output, **backend_opts) as p:
        return p.parse(source, **run_opts)


def ground(image: Source | Sequence[Source], queries: str | Sequence[str], *, points: bool = False,
           model: str | None = None, family: str | None = None, backend: str = "local",
           from_output: str | os.PathLike | None = None, **options: Any) -> GroundResult:
    """Find boxes (or points) for text queries with one call; coordinates in original-image pixels.

    Args:
        image: a path, bytes, a PIL image, or a list of them.
        queries: a query or a list of queries.
        points: points instead of boxes.
        model: Hub id or local directory of a Qwen VL checkpoint.
        family: the model family (needed with ``from_output``).
        backend: ``"local"`` or ``"openai"``.
        from_output: a recorded raw answer instead of a model, as ``vlparse ground --from-output``.
        **options: the options of :class:`Parser` and of :meth:`Parser.ground`.

    Returns:
        A :class:`GroundResult`.

    Raises:
        InputError: a single image cannot be opened.
        ModelError: the model cannot be loaded.

    Examples:
        >>> import vlparse
        >>> result = vlparse.ground("examples/shapes.png", "red car", family="qwen2.5-vl",
        ...                         from_output="examples/answers/qwen2.5-vl/shapes-ground.txt")
        >>> result.detections[0].label
        'red car'
    """
    backend_opts, run_opts = _split(dict(options))
    with Parser(model=model, family=family, backend=backend, from_output=from_output, **backend_opts) as p:
        return p.ground(image, queries, points=points, **run_opts)


def extract(source: Source | Sequence[Source], schema: Any, *, model: str | None = None, family: str | None = None,
            backend: str = "local", from_output: str | os.PathLike | None = None,
            **options: Any) -> dict[str, Any] | list[dict[str, Any]]:
    """The fields of ``schema`` from PDFs and images with one call, every value with its evidence box.

    Args:
        source: a path, bytes, a PIL image, or a list of them.
        schema: a Pydantic model class, a JSON Schema dict, or field specs such as ``["vendor", "total:number"]``.
        model, family, backend, from_output: as for :func:`parse`.
        **options: the options of :class:`Parser` and of :meth:`Parser.extract` (``date_order``, ``pages``...).

    Returns:
        The document's record (a list for a list of sources): see :meth:`Parser.extract`.

    Examples:
        >>> import vlparse
        >>> rec = vlparse.extract("examples/invoice.pdf", "examples/invoice.schema.json", family="qwen2.5-vl",
        ...                       from_output="examples/answers/qwen2.5-vl/invoice-extract.jsonl")
        >>> rec["values"]["total"], rec["fields"]["total"]["text_match"], rec["flagged"]
        (2274.5, True, ['invoice_date'])
    """
    if isinstance(schema, (str, os.PathLike)):  # a JSON Schema file
        import json

        try:
            with open(schema, encoding="utf-8") as f:
                schema = json.load(f)
        except OSError as e:
            raise UsageError(f"schema {os.fspath(schema)}: {e.strerror or e}") from None
        except ValueError as e:
            raise UsageError(f"schema {os.fspath(schema)}: not valid JSON ({e})") from None
    backend_opts, run_opts = _split(dict(options))
    with Parser(model=model, family=family, backend=backend, from_output=from_output, **backend_opts) as p:
        return p.extract(source, schema, **run_opts)
