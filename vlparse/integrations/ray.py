"""vlparse as a Ray Data job: ``vlparse doc INPUTS… -o OUT --ray ADDRESS`` and a Python entry point.

Stages (each scales on its own; rows are plain dicts):

1. **list** (CPU tasks, ``flat_map``): open each input (a local path, or an fsspec URL fetched to a temp
   file), apply ``--pages``, and emit one row per page; pages an earlier run already finished (their state
   record, same settings, same input identity) come out as ``resumed`` rows and skip the rest.
2. **render** (CPU tasks, ``map_batches``): pages at the model's native size (:mod:`vlparse.pages.render`),
   raw RGB bytes in the row.
3. **model** (an actor pool, ``concurrency=N``, one backend per actor: the transformers model on one GPU, or a
   client of OpenAI-compatible servers, or recorded answers): raw answers, with the local run's retry policy
   (more tokens, then a repetition penalty, then temperature) for truncated or looping answers.
4. **parse** (CPU tasks): parsing, validation and mapping to original pixels / PDF points -> the page result.

The driver alone writes: it takes the finished rows as they stream out of Ray and hands them to the same
runner a local run uses (:class:`vlparse.run.pipeline.Runner`), so the page records, the manifest, the
exports (written when all pages of a document are in), the summary and the exit code are the local run's.
A page that arrives twice (Ray re-ran a task after a worker died) is taken once: the driver keys finished
pages by (source, page) and drops repeats, so every page is written and logged exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from vlparse.core.errors import EXIT_MODEL, UsageError, VlparseError
from vlparse.core.results import FAILED, OK, REPAIRED, PageResult

#: the exit code of ``--ray`` when Ray is not installed (the run's engine is unavailable, as a model would be)
EXIT_NO_RAY = EXIT_MODEL
TEST_GATE_ENV = "VLPARSE_RAY_TEST_GATE"


class RayUnavailable(VlparseError):
    exit_code = EXIT_NO_RAY


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayUnavailable("--ray needs Ray Data, which is not installed: pip install \"vlparse[ray]\"") from None
    return ray


@dataclass
class RaySettings:
    """How the job is spread over the cluster (resources per worker of each stage)."""

    address: str = "local"  # "local": a Ray started for this run; "auto", "HOST:PORT" or "ray://HOST:PORT"
    model_workers: int = 1  # actors in the model stage (one model / one server client each)
    gpus_per_model_worker: float | None = None  # None: 1 for the local backend on a cluster with GPUs, else 0
    cpus_per_model_worker: float | None = None  # None: 1 for the transformers backend, 0.25 for clients/recorded
    cpus_list: float = 0.25
    cpus_render: float = 0.5
    cpus_parse: float = 0.25
    render_batch: int = 4
    num_cpus: int | None = None  # local Ray only (default: this machine's)
    object_store_memory: int | None = 512 * 1024 * 1024  # local Ray only


@dataclass
class PipelineSpec:
    """What the workers need to know about the run (pickled into every task and actor)."""

    task: Any  # vlparse.run.tasks.Task
    budget: Any  # vlparse.core.geometry.Budget
    backend: Any  # vlparse.backends.factory.BackendOptions
    pages: str | None = None
    dpi: float | None = None
    password: str | None = None
    retries: int = 1
    force: bool = False
    skip_failed: bool = False
    batch_size: int | None = None
    fingerprint: str | None = None  # the resume fingerprint; None: no resume records are read
    recorded: Any = None  # RecordedAnswers for --from-output
    recorded_ref: Any = None  # [ObjectRef] of ``recorded`` once shipped (actors fetch it; args stay small)
    only_page: int | None = None
    text_layer: bool = False  # the render stage also reads each PDF page's text layer (RunConfig.text_layer)
    finish_page: Any = None  # RunConfig.finish_page: verification against that layer, run in the parse stage

    @property
    def model_batch(self) -> int:
        if self.batch_size:
            return self.batch_size
        return 64 if (self.recorded is not None or self.recorded_ref) else 4


def make_spec(task: str, backend, *, queries: list[str] | None = None, **run_options) -> PipelineSpec:
    """A spec for users' own pipelines: the same task, budget and decoding as ``vlparse doc|ground``.

    ``task``: "doc", "ground" or "points"; ``backend``: :class:`vlparse.core.options.BackendOptions`;
    ``run_options``: fields of :class:`vlparse.core.options.RunOptions` (``pages``, ``max_pixels``, ``retries``...).
    """
    from vlparse.backends.factory import resolve_family
    from vlparse.core.options import RunOptions
    from vlparse.run.job import doc_job, ground_job

    opts = RunOptions(backend=backend, **run_options)
    family = resolve_family(backend)
    if task == "doc":
        _, cfg = doc_job(family, opts)
    else:
        _, cfg = ground_job(family, opts, list(queries or []), task == "points")
    recorded = None
    if backend.from_output is not None:
        from vlparse.backends.recorded import load_recorded

        recorded = load_recorded(backend.from_output)
    return PipelineSpec(cfg.task, cfg.budget, backend, cfg.pages, cfg.dpi, cfg.password, cfg.retries, cfg.force,
                        opts.skip_failed, cfg.batch_size, recorded=recorded, text_layer=cfg.text_layer,
                        finish_page=cfg.finish_page)


# -- rows -------------------------------------------------------------------------------------------------
def _row(src: dict, **kw) -> dict:
    base = {"source": src["source"], "url": src["url"], "state_dir": src.get("state_dir", ""),
            "identity": src.get("identity", ""), "kind": "", "pages": "[]", "page": 0, "state": "",
            "error": "", "result": "", "info": "", "image": b"", "answer": "", "text_layer": b"",
            "page_warnings": "[]"}
    base.update(kw)
    return base


def _records(batch) -> list[dict]:
    return batch.to_dict("records")


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


class _Opened:
    """An input opened on a worker (URL inputs fetched to a temp file first)."""

    def __init__(self, url: str, password: str | None):
        from vlparse.pages.render import open_source
        from vlparse.run.remote import fetch_to_temp, local_path

        self.tmp = None
        path = local_path(url)
        if path is None:
            try:
                path = self.tmp = fetch_to_temp(url)
            except (OSError, ValueError) as e:
                from vlparse.core.errors import InputError

                raise InputError(f"cannot fetch: {' '.join(str(e).split())[:160]}") from None
        try:
            self.src = open_source(path, password=password)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if getattr(self, "src", None) is not None:
            self.src.close()
            self.src = None
        if self.tmp:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def list_pages(row: dict, spec: PipelineSpec) -> list[dict]:
    """Stage 1: one input -> one row per selected page (or one ``input_error`` row)."""
    from vlparse.pages.render import parse_page_selection
    from vlparse.run.remote import load_done_record

    try:
        opened = _Opened(row["url"], spec.password)
    except VlparseError as e:
        return [_row(row, state="input_error", error=e.message)]
    try:
        src = opened.src
        try:
            pages = parse_page_selection(spec.pages, src.page_count) if src.kind == "pdf" else \
                list(range(1, src.page_count + 1))
        except VlparseError as e:
            return [_row(row, state="input_error", error=e.message)]
    finally:
        opened.close()
    ident = json.loads(row["identity"]) if row.get("identity") else None
    out = []
    for n in pages:
        stored = None
        if row.get("state_dir") and spec.fingerprint and not spec.force:
            stored = load_done_record(f"{row['state_dir']}/page-{n:04d}.json", spec.fingerprint, row["source"], n,
                                      ident, skip_failed=spec.skip_failed)
        state = "resumed" if stored is not None else "todo"
        out.append(_row(row, kind=src.kind, pages=json.dumps(pages), page=n, state=state,
                        result=json.dumps(stored) if stored is not None else ""))
    return out


def render_pages(batch, spec: PipelineSpec):
    """Stage 2: pages at the model's native size (rows of one input share one opened source)."""
    from vlparse.core.errors import InputError
    from vlparse.pages.render import PageError

    rows = _records(batch)
    opened: dict[str, Any] = {}
    try:
        for r in rows:
            if r["state"] != "todo":
                continue
            try:
                if r["url"] not in opened:
                    opened[r["url"]] = _Opened(r["url"], spec.password)
                src = opened[r["url"]].src
                src.path = r["source"]  # results name the input as the user gave it
                page = src.page(int(r["page"]), spec.task.family, spec.budget, dpi=spec.dpi)
            except (PageError, InputError) as e:
                r.update(state="page_error", error=e.message)
                continue
            if spec.text_layer and src.kind == "pdf":  # as the local renderer does (Runner._open)
                try:
                    r["text_layer"] = pickle.dumps(src.text_layer(int(r["page"])))
                except PageError:
                    r["text_layer"] = b""  # verification says the layer could not be read
            r["page_warnings"] = json.dumps(list(getattr(page, "warnings", None) or []))
            f = page.info.frame
            r["info"] = json.dumps({**page.info.to_dict(), "pt_per_px": [f.pt_per_px_x, f.pt_per_px_y]})
            img = page.image.convert("RGB")
            r["image"] = img.tobytes()
    finally:
        for o in opened.values():
            o.close()
    return _frame(rows)


def _info(r: dict):
    from vlparse.core.geometry import Frame
    from vlparse.core.results import PageInfo

    d = json.loads(r["info"])
    info = PageInfo.from_dict(d)
    ptx, pty = d.get("pt_per_px") or (None, None)
    info.frame = Frame(info.frame.width, info.frame.height, info.frame.model_width, info.frame.model_height, ptx, pty)
    return info


def _judge(task, info, text: str, finish_reason: str, error: str | None) -> PageResult:
    """One answer -> the page result (as :meth:`Runner._settle` judges it)."""
    if finish_reason == "error":
        return PageResult(info, FAILED, raw=text, error=error or "generation failed")
    try:
        return task.parse(text, finish_reason, info)
    except Exception as e:  # noqa: BLE001 - a parser bug must not cost the run
        return PageResult(info, FAILED, raw=text, error=f"could not parse the answer: {e}")


def _gate() -> None:
    """Test hook (``VLPARSE_RAY_TEST_GATE=DIR``): a model batch passes only while DIR/budget allows it.

    Each batch claims a token file ``DIR/token-K`` (K < the number in ``DIR/budget``) and waits, announcing
    itself in ``DIR/waiting-PID``, while none is free, so tests pace the job without racing a clock.
    """
    gate = os.environ.get(TEST_GATE_ENV)
    if not gate:
        return
    waiting = os.path.join(gate, f"waiting-{os.getpid()}")
    while True:
        try:
            with open(os.path.join(gate, "budget")) as f:
                budget = int(f.read().strip() or 0)
        except (OSError, ValueError):
            budget = 0
        for k in range(budget):
            try:
                os.close(os.open(os.path.join(gate, f"token-{k}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            try:
                os.unlink(waiting)
            except OSError:
                pass
            return
        if not os.path.exists(waiting):
            with open(waiting, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(0.05)


class ModelStage:
    """Stage 3: one backend per actor; a batch of rendered pages in, their chosen raw answers out."""

    def __init__(self, spec: PipelineSpec):
        from vlparse.backends.factory import backend_factory

        self.spec = spec
        recorded = spec.recorded
        if recorded is None and spec.recorded_ref:
            import ray

            recorded = ray.get(spec.recorded_ref[0])
        if recorded is not None:
            from vlparse.backends.recorded import RecordedBackend

            recorded.only_page = spec.only_page
            self.backend = RecordedBackend(spec.task.family, recorded)
        else:
            self.backend = backend_factory(spec.backend, spec.task.family, only_page=spec.only_page)()

    def __call__(self, batch):
        from PIL import Image

        from vlparse.backends.base import Answer, Request
        from vlparse.run.tasks import next_decoding, quality

        rows = _records(batch)
        todo = [r for r in rows if r["state"] == "todo"]
        if todo:
            _gate()
        spec, task = self.spec, self.spec.task
        work = []
        for r in todo:
            info = _info(r)
            img = Image.frombytes("RGB", (info.frame.model_width, info.frame.model_height), bytes(r["image"]))
            work.append({"row": r, "info": info, "image": img, "decoding": task.decoding, "tries": [],
                         "best": None, "best_key": None})
        pending = list(work)
        while pending:
            reqs = [Request(f"{w['row']['source']}#{w['row']['page']}", w["image"], task.prompt,
                            w["decoding"].max_new_tokens, w["decoding"].temperature, w["decoding"].repetition_penalty,
                            spec.budget.min_pixels, spec.budget.max_pixels) for w in pending]
            answers = self._generate(reqs)
            again = []
            for w, ans in zip(pending, answers):
                res = _judge(task, w["info"], ans.text, ans.finish_reason, ans.error)
                w["tries"].append({"attempt": len(w["tries"]) + 1, **w["decoding"].to_dict(),
                                   "finish_reason": ans.finish_reason, "new_tokens": ans.new_tokens,
                                   "status": res.status})
                if w["best"] is None or quality(res) > w["best_key"]:
                    w["best"] = {"text": ans.text, "finish_reason": ans.finish_reason, "error": ans.error,
                                 "attempt": len(w["tries"])}
                    w["best_key"] = quality(res)
                n = len(w["tries"])
                nxt = next_decoding(n, res, task.decoding) if n <= spec.retries and not ans.error else None
                if nxt is not None:
                    w["decoding"] = nxt
                    again.append(w)
            pending = again
        for w in work:
            r = w["row"]
            r["answer"] = json.dumps({**w["best"], "tries": w["tries"]})
            r["image"] = b""
        return _frame(rows)

    def _generate(self, reqs: list) -> list:
        from vlparse.backends.base import Answer
        from vlparse.run.pipeline import generate_isolated

        be = self.backend
        if be.streaming:
            futures = [be.submit(r) for r in reqs]
            out = []
            for r, fut in zip(reqs, futures):
                try:
                    out.append(fut.result())
                except VlparseError:
                    raise
                except Exception as e:  # noqa: BLE001 - one odd page never stops the run
                    out.append(Answer(r.key, "", "error", error=f"generation failed: {type(e).__name__}: {e}"))
            return out
        reqs_sorted = sorted(range(len(reqs)), key=lambda i: reqs[i].image.size[0] * reqs[i].image.size[1])
        size = max(1, be.batch_size)
        answers: list = [None] * len(reqs)
        for i in range(0, len(reqs_sorted), size):
            idx = reqs_sorted[i:i + size]
            for j, a in zip(idx, generate_isolated(be, [reqs[j] for j in idx])):
                answers[j] = a
        return answers


def parse_pages(batch, spec: PipelineSpec):
    """Stage 4: the chosen answer -> parsed, validated, mapped page result (JSON in ``result``)."""
    rows = _records(batch)
    for r in rows:
        r["image"] = b""
        if r["state"] != "todo" or not r["answer"]:
            continue
        a = json.loads(r["answer"])
        res = _judge(spec.task, _info(r), a["text"], a["finish_reason"], a.get("error"))
        page_warnings = json.loads(r.get("page_warnings") or "[]")
        if page_warnings:  # the input's own trouble (a repaired PDF, an odd /Rotate), as Runner._settle adds it
            res.warnings[:0] = page_warnings
            if res.status == OK:
                res.status = REPAIRED
        if len(a["tries"]) > 1:
            res.attempts = a["tries"]
            res.warnings.append(f"{len(a['tries'])} attempts; kept attempt {a['attempt']}")
        if spec.finish_page is not None:  # verification against the text layer the render stage read
            layer = pickle.loads(r["text_layer"]) if r.get("text_layer") else None
            spec.finish_page(res, SimpleNamespace(text_layer=layer))
        r["result"] = json.dumps(res.to_dict(), ensure_ascii=False)
        r["state"] = "done"
    return _frame(rows)


# -- the Dataset-level entry point ---------------------------------------------------------------------------
def source_rows(sources: Iterable[str], *, state_dirs: dict[str, str] | None = None,
                identities: dict[str, dict] | None = None) -> list[dict]:
    """Rows for :func:`process` from paths or URLs (local paths are made absolute for the workers)."""
    from vlparse.run.remote import is_url

    rows = []
    for s in sources:
        url = s if is_url(s) else os.path.abspath(s)
        ident = (identities or {}).get(s)
        rows.append({"source": s, "url": url, "state_dir": (state_dirs or {}).get(s, ""),
                     "identity": json.dumps(ident, sort_keys=True) if ident else ""})
    return rows


def process(ds, spec: PipelineSpec, settings: RaySettings | None = None, *, model_stage: type | None = None):
    """A Dataset of inputs (column ``source``: a path or URL) -> a Dataset of page rows.

    Each output row has ``source``, ``page``, ``state`` (``done``, ``resumed``, ``page_error``, ``input_error``),
    ``error`` and ``result`` (the page result as JSON: :meth:`PageResult.from_dict` reads it back).
    ``model_stage``: a subclass of :class:`ModelStage` to use instead (e.g. a simulated model).
    """
    import dataclasses

    import ray

    settings = settings or RaySettings()
    if spec.recorded is not None:  # shipped once through the object store, fetched by each model actor
        spec = dataclasses.replace(spec, recorded=None, recorded_ref=[ray.put(spec.recorded)])
    if "url" not in ds.columns():
        ds = ds.map(lambda r: {**source_rows([r["source"]])[0], **r})
    ds = ds.flat_map(list_pages, fn_kwargs={"spec": spec}, num_cpus=settings.cpus_list)
    # Small blocks between stages: a task's outputs leave it only when it ends, so a block of a whole document
    # would hold finished pages back behind the slowest. Streaming repartition (no barrier) to render batches,
    # no larger than a model batch, so a model task takes whole blocks of at most one batch.
    render_batch = max(1, min(settings.render_batch, spec.model_batch))
    ds = ds.repartition(target_num_rows_per_block=render_batch)
    ds = ds.map_batches(render_pages, fn_kwargs={"spec": spec}, batch_size=render_batch,
                        batch_format="pandas", num_cpus=settings.cpus_render)
    gpus = settings.gpus_per_model_worker
    if gpus is None:
        gpus = 0.0
        if spec.recorded_ref is None and spec.backend.backend == "local":
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    cpus = settings.cpus_per_model_worker
    if cpus is None:
        cpus = 1.0 if spec.recorded_ref is None and spec.backend.backend == "local" else 0.25
    _check_room(settings, cpus)
    model_kwargs: dict[str, Any] = {"num_cpus": cpus}
    if gpus:
        model_kwargs["num_gpus"] = gpus
    pool = ray.data.ActorPoolStrategy(size=settings.model_workers)  # a fixed pool: one backend per actor
    ds = ds.map_batches(model_stage or ModelStage, fn_constructor_kwargs={"spec": spec}, batch_size=spec.model_batch,
                        batch_format="pandas", compute=pool, **model_kwargs)
    # batch_size=None: each model output block as it comes (a size would hold pages back until it fills)
    return ds.map_batches(parse_pages, fn_kwargs={"spec": spec}, batch_size=None, batch_format="pandas",
                          num_cpus=settings.cpus_parse)


def _check_room(settings: RaySettings, cpus_per_model_worker: float) -> None:
    """The model actors hold their CPUs for the whole job: leave room for one list, render and parse task, or
    the job would wait forever for resources."""
    import ray

    total = ray.cluster_resources().get("CPU", 0)
    need = settings.model_workers * cpus_per_model_worker + settings.cpus_list + settings.cpus_render \
        + settings.cpus_parse
    if total and need > total:
        raise UsageError(f"the Ray cluster has {total:g} CPUs; {settings.model_workers} model worker(s) at "
                         f"{cpus_per_model_worker:g} CPU each leave none for rendering and parsing "
                         "(lower --ray-workers, or add CPUs)")


def results(ds) -> Iterator[PageResult]:
    """The page results of a :func:`process` Dataset (pages that could not be rendered come as failed results)."""
    for r in ds.iter_rows():
        yield _result_of(r)


def _result_of(r: dict) -> PageResult:
    from vlparse.core.geometry import Frame
    from vlparse.core.results import PageInfo

    if r["state"] in ("done", "resumed"):
        d = json.loads(r["result"])
        res = PageResult.from_dict(d)
        if r["state"] == "done" and r.get("info"):
            res.info.frame = _info(r).frame  # the exact points-per-pixel the page was rendered with
        return res
    return PageResult(PageInfo(r["source"], int(r["page"]) or 1, Frame(0, 0, 0, 0), kind=r["kind"] or "image"),
                      FAILED, error=r["error"])


# -- connecting ------------------------------------------------------------------------------------------------
def connect(settings: RaySettings) -> bool:
    """Connect to (or start) Ray, progress bars off. True when this call initialised Ray."""
    ray = require_ray()
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    for name in ("ray", "ray._private"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Ray Data logs a failed job's whole stack trace at ERROR: vlparse reports the failure in one line instead
    for name in ("ray.data", "ray.data._internal", "ray.data.exceptions"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                              "configure_logging": True}
    address = settings.address
    try:
        if address in ("local", "", None):
            ray.init(address="local", num_cpus=settings.num_cpus, object_store_memory=settings.object_store_memory,
                     **kwargs)  # "local": a new Ray even when one was started on this machine
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        from vlparse.core.errors import BackendError

        raise BackendError(f"--ray {address}: cannot connect to Ray ({' '.join(str(e).split())[:200]})") from None
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    return True


class _RayLogFilter:
    """Ray's C++ core worker writes log lines straight to this process's stderr (fd 2), e.g. an "E" line about
    Ray Data's own actor arguments. vlparse prints one line per problem: while the job runs, fd 2 goes through a
    pipe that drops Ray's log lines (``[date time L pid tid] file.cc:N: …`` and Ray's Python INFO/WARNING lines)
    and passes everything else on. ``--debug`` keeps them."""

    def __init__(self):
        self.active = False

    def __enter__(self):
        import re
        import sys
        import threading

        from vlparse.run import console

        if console.debug_enabled():
            return self
        pattern = re.compile(rb"^(\[\d{4}-\d\d-\d\d [\d:,.]+ [IWE] \d+ \d+\] |\d{4}-\d\d-\d\d [\d:,.]+\t(INFO|WARNING) )")
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            r, w = os.pipe()
            os.dup2(w, 2)
            os.close(w)
        except OSError:
            return self
        self.active = True

        def pump():
            with os.fdopen(r, "rb") as src:
                for line in src:
                    if not pattern.match(line):
                        try:
                            os.write(self.saved, line)
                        except OSError:
                            pass

        self.thread = threading.Thread(target=pump, name="vlparse-ray-stderr", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        import sys

        sys.stderr.flush()
        os.dup2(self.saved, 2)  # the pipe's write end closes here (unless a child process still holds it)
        self.thread.join(timeout=2)
        os.close(self.saved)
        self.active = False
        return False


def _unwrap(e: BaseException) -> BaseException:
    """The vlparse error inside a Ray task failure, if there is one."""
    seen = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if id(x) in seen or x is None:
            continue
        seen.add(id(x))
        if isinstance(x, VlparseError):
            return x
        todo += [getattr(x, "cause", None), x.__cause__, x.__context__]
    return e


def _as_vlparse_error(e: BaseException) -> VlparseError:
    """A Ray job failure as one vlparse error: the worker's own error when it was one (a model that cannot load
    exits 3, an unreachable server 5...), else a one-line BackendError (exit 5)."""
    import re

    from vlparse.core import errors

    inner = _unwrap(e)
    if isinstance(inner, VlparseError):
        return inner
    text = str(e)
    # an actor that failed in its constructor arrives as text: find vlparse's error in the worker's traceback
    import importlib

    for m in re.finditer(r"\b(vlparse(?:\.\w+)*)\.(\w+): (.+)|\b(\w+Error): (.+)", text):
        module, name, message = (m.group(1), m.group(2), m.group(3)) if m.group(1) else \
            ("vlparse.core.errors", m.group(4), m.group(5))
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            cls = None
        if isinstance(cls, type) and issubclass(cls, VlparseError):
            err = cls.__new__(cls)
            Exception.__init__(err, message.strip())
            return err
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return errors.BackendError(f"the Ray job failed: {(lines[-1] if lines else type(e).__name__)[:300]}")


# -- the driver ------------------------------------------------------------------------------------------------
def run_on_ray(runner, sources: list[str], settings: RaySettings, spec: PipelineSpec):
    """Run ``sources`` on Ray, feeding every finished page to ``runner`` (a :class:`Runner`) on the driver."""
    from vlparse.run.remote import is_url

    local_only = [s for s in sources if is_url(s) and s.startswith("memory://")]
    if getattr(runner.store, "url", "").startswith("memory://"):
        local_only.append(runner.store.url)
    if local_only:
        raise UsageError(f"{local_only[0]}: memory:// lives inside one process, where Ray workers cannot read it; "
                         "use a shared filesystem or an object store with --ray")
    quiet = _RayLogFilter().__enter__()
    try:
        return _run_on_ray(runner, sources, settings, spec)
    finally:
        quiet.__exit__(None, None, None)


def _run_on_ray(runner, sources: list[str], settings: RaySettings, spec: PipelineSpec):
    started = connect(settings)
    store = runner.store
    t0 = time.perf_counter()
    try:
        import ray

        state_dirs, identities = {}, {}
        if store is not None:
            from vlparse.run.remote import identity, is_url

            for s in sources:
                state_dirs[s] = _state_dir(store, s)
                try:
                    identities[s] = identity(s if is_url(s) else os.path.abspath(s))
                except (OSError, VlparseError):
                    pass
            spec.fingerprint = store.fingerprint
        rows = source_rows(sources, state_dirs=state_dirs, identities=identities)
        if not rows:
            return runner.summary
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 64))
        out = process(ds, spec, settings)
        if store is not None and identities:
            runner.store = _WithIdentity(store, identities)  # page records carry the input's identity
        try:
            consume(out.iter_rows(), runner, store)
        except VlparseError:
            raise
        except Exception as e:  # noqa: BLE001 - Ray wraps worker errors; surface vlparse's own
            raise _as_vlparse_error(e) from None
    finally:
        runner.store = store
        runner.summary.seconds = time.perf_counter() - t0
        if started:
            import ray

            ray.shutdown()
    return runner.summary


class _WithIdentity:
    """A store whose page records also hold the input's identity (ETag + size, or size + mtime)."""

    def __init__(self, store, identities: dict[str, dict]):
        self._store, self._identities = store, identities

    def __getattr__(self, name):
        return getattr(self._store, name)

    def save_page(self, result: PageResult, extra: dict | None = None) -> None:
        ident = self._identities.get(result.info.source)
        self._store.save_page(result, {**({"input": ident} if ident else {}), **(extra or {})})


def consume(rows: Iterable[dict], runner, store=None) -> None:
    """The driver's half: finished page rows (in any order, repeats possible) -> the runner, each page once.

    ``store``: the run's store (resumed pages whose manifest line is missing get it now).
    """
    from vlparse.run.pipeline import DocumentRun

    logged = _manifest_keys(store)
    docs: dict[str, DocumentRun] = {}
    seen: set[tuple[str, int]] = set()
    for r in rows:
        source = r["source"]
        if r["state"] == "input_error":
            if source not in docs:
                doc = docs[source] = DocumentRun(source, error=r["error"])
                runner._take("input_error", doc, None)
            continue
        doc = docs.get(source)
        if doc is None:
            doc = docs[source] = DocumentRun(source, r["kind"], json.loads(r["pages"]))
            runner._take("doc", doc, None)
        page = int(r["page"])
        if (source, page) in seen:
            continue  # a task Ray ran twice: the page is already in
        seen.add((source, page))
        if r["state"] == "page_error":
            runner._take("page_error", doc, (page, r["error"]))
            continue
        res = _result_of(r)
        runner._finish(doc, res, resumed=r["state"] == "resumed")
        if r["state"] == "resumed" and store is not None and (source, page) not in logged:
            # the state record was written but the earlier run died before its manifest line
            store.log({"source": source, "page": page, "status": res.status, "warnings": len(res.warnings),
                       "error": res.error})


def _state_dir(store, source: str) -> str:
    if hasattr(store, "state_dir"):
        return store.state_dir(source)
    return str(store.page_path(source, 1).parent.resolve())


def _manifest_keys(store) -> set[tuple[str, int]]:
    """(source, page) pairs the manifest already records."""
    if store is None:
        return set()
    from vlparse.run.store import MANIFEST

    lines = getattr(store, "_lines", None)
    if lines is None:
        try:
            lines = (store.root / MANIFEST).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
    keys = set()
    for ln in lines:
        try:
            d = json.loads(ln)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("page") is not None:
            keys.add((d.get("source"), d.get("page")))
    return keys


@dataclass
class RayRun:
    """What ``--ray`` adds to a run's options."""

    settings: RaySettings = field(default_factory=RaySettings)
    skip_failed: bool = False


def spec_for_run(cfg, opts, selection: str, factory) -> PipelineSpec:
    """The spec of a ``vlparse doc|ground --ray`` run (the same task, budget and decoding as a local run)."""
    recorded = None
    if opts.backend.from_output is not None:
        recorded = factory().answers  # loaded once, up front (a bad path was already a usage error)
    return PipelineSpec(cfg.task, cfg.budget, opts.backend, cfg.pages, cfg.dpi, cfg.password, cfg.retries,
                        cfg.force, opts.skip_failed, cfg.batch_size, recorded=recorded,
                        only_page=int(selection) if selection.isdigit() else None, text_layer=cfg.text_layer,
                        finish_page=cfg.finish_page)
