"""What ``doc`` and ``ground`` share around the pipeline: inputs, budget, backend, store, summary."""

from __future__ import annotations

import sys
from pathlib import Path

from vlparse.run import console
from vlparse.core.errors import EXIT_USAGE, UsageError
from vlparse.core.families import Family, pixel_budget
from vlparse.core.geometry import Budget
from vlparse.run.pipeline import Listener, RunConfig, Runner, Summary
from vlparse.run.tasks import Decoding, Task
from vlparse.backends.factory import backend_factory
from vlparse.core.options import RunOptions
from vlparse.run.store import Store, fingerprint


#: the options every job shares (kept under its old name for the jobs' signatures)
CommonOptions = RunOptions


def gather_inputs(opts: CommonOptions) -> tuple[list[str], list[tuple[str, str]], bool]:
    """(readable sources, [(path, problem)], whether the inputs came as a list/directory)."""
    from vlparse.core.errors import UsageError
    from vlparse.pages.inputs import expand_inputs

    if opts.backend.from_output == "-" and "-" in opts.inputs:
        raise UsageError("--from-output - and the input '-' both read standard input: give the answers or the "
                         "list of paths as a file")
    from vlparse.run.remote import expand_urls, is_url, local_path

    items = [local_path(i) or i for i in opts.inputs]  # file:// URLs are local paths
    urls = [i for i in items if is_url(i)]
    res = expand_inputs([i for i in items if not is_url(i)], recursive=opts.recursive, stdin=sys.stdin)
    many = ("-" in items or len(items) > 1 or len(res.paths) > 1
            or any(Path(p).is_dir() or set("*?[") & set(p) for p in items if not is_url(p)))
    if not urls:
        return list(res.paths), list(res.problems), many
    if opts.ray is None:
        raise UsageError(f"{urls[0]}: URL inputs are read by Ray workers; add --ray local (or --ray ADDRESS)")
    found, problems = expand_urls(urls, recursive=opts.recursive)
    many = many or len(found) > 1 or any(set("*?[") & set(u) or u.endswith("/") for u in urls)
    return list(res.paths) + found, list(res.problems) + problems, many


def remote_output(opts: CommonOptions) -> str | None:
    """-o URL: file:// becomes a local path; other URLs get a local staging directory (returns the URL)."""
    from vlparse.run.remote import is_url, local_path

    if not opts.output or not is_url(opts.output):
        return None
    local = local_path(opts.output)
    if local is not None:
        opts.output = local
        return None
    import tempfile

    url = opts.output.rstrip("/")
    opts.output = tempfile.mkdtemp(prefix="vlparse-stage-") + "/"
    return url


def check_export_paths(*, coco: str | None = None, overlay: str | None = None) -> None:
    """Refuse, before any work, export paths of the wrong kind: ``--coco`` names a file, ``--overlay`` a directory."""
    from vlparse.core.errors import UsageError

    if coco is not None and (coco.endswith(("/", "\\")) or Path(coco).is_dir()):
        raise UsageError(f"--coco {coco}: is a directory; --coco takes a file name (e.g. out/boxes.json)")
    if overlay is not None and Path(overlay).exists() and not Path(overlay).is_dir():
        raise UsageError(f"--overlay {overlay}: is a file; --overlay takes a directory for the PNGs")


def budget_for(family: Family, task: str, opts: CommonOptions) -> Budget:
    return pixel_budget(family, task, max_pixels=opts.max_pixels, min_pixels=opts.min_pixels)


def run_config(task: Task, budget: Budget, opts: RunOptions) -> RunConfig:
    """The pipeline's settings for ``task`` from the run's options."""
    from vlparse.pages.render import page_ranges

    page_ranges(opts.pages)  # a bad selection is a usage error before any input opens
    return RunConfig(task=task, budget=budget, pages=opts.pages, dpi=opts.dpi, password=opts.password,
                     # recorded answers: the same answer would come back, so no retries
                     retries=0 if opts.backend.from_output is not None else opts.retries,
                     fail_fast=opts.fail_fast, force=opts.force, batch_size=opts.backend.batch_size)


def doc_job(family: Family, opts: RunOptions) -> tuple[Task, RunConfig]:
    """The document-parsing task (prompt, decoding) and its run settings: what the CLI and the API run."""
    from vlparse.core.options import AnswerFormat
    from vlparse.run.prompts import load_prompt

    try:
        answer_format = AnswerFormat(getattr(opts, "answer_format", AnswerFormat.HTML))
    except ValueError:
        raise UsageError(f"answer format must be one of {' | '.join(AnswerFormat.values())} "
                         f"(got '{opts.answer_format}')") from None
    markdown = answer_format == AnswerFormat.QWENVL_MARKDOWN
    if markdown and family.name != "qwen3-vl" and not opts.prompt_file:
        raise UsageError(f"--answer-format qwenvl-markdown is Qwen3-VL's document-parsing format; {family.title} "
                         "speaks QwenVL HTML (--answer-format html), or give your own --prompt-file")
    if not family.html and not opts.prompt_file:
        raise UsageError(f"{family.title} was not trained for QwenVL HTML document parsing; use a Qwen2.5-VL or "
                         "Qwen3-VL model, or give your own --prompt-file")
    prompt = load_prompt(family, "doc-markdown" if markdown else "doc", opts.prompt_file)
    budget = budget_for(family, "doc", opts)
    task = Task("doc", family, prompt, Decoding(opts.tokens_for("doc")), answer_format=answer_format.value)
    cfg = run_config(task, budget, opts)
    # every PDF page is checked against its own text layer, read with the rendering (vlparse/run/verify.py)
    from vlparse.run.verify import verifier

    cfg.text_layer = True
    cfg.finish_page = verifier(snap_boxes=bool(getattr(opts, "snap_boxes", False)))
    return task, cfg


def ground_job(family: Family, opts: RunOptions, queries: list[str], points: bool) -> tuple[Task, RunConfig]:
    """The grounding task for ``queries`` (boxes, or points) and its run settings."""
    from vlparse.run.prompts import fill_queries, load_prompt

    queries = [q for q in queries if q.strip()]  # a blank query is no query
    if not queries:
        raise UsageError("give at least one query")
    task_name = "points" if points else "ground"
    prompt = fill_queries(load_prompt(family, task_name, opts.prompt_file), queries)
    budget = budget_for(family, "ground", opts)
    task = Task("ground", family, prompt, Decoding(opts.tokens_for(task_name)), want="point" if points else "bbox",
                queries=list(queries))
    return task, run_config(task, budget, opts)


def only_page(cfg: RunConfig) -> int | None:
    """The single page a run selects, if it selects one (a single recorded answer is then that page's)."""
    selection = (cfg.pages or "").strip()
    return int(selection) if selection.isdigit() else None


def execute(cfg: RunConfig, factory, sources: list, *, listener: Listener | None = None,
            store: Store | None = None) -> Summary:
    """Run the pipeline over ``sources`` (paths or :class:`~vlparse.pages.render.InMemory` inputs); prints nothing.

    The backend comes from ``factory`` when the first page needs it, and is closed at the end.
    """
    runner = Runner(cfg, factory, store=store, listener=listener)
    try:
        return runner.run(sources)
    finally:
        runner.close()


def run_pipeline(cfg: RunConfig, opts: CommonOptions, family: Family, sources: list[str], problems, listener,
                 store: Store | None) -> Summary:
    """The CLI's run: :func:`execute` plus progress, problems and the summary line on stderr."""
    from vlparse.run.progress import ProgressListener

    if store is not None and opts.skip_failed:
        store.skip_failed = True
    if opts.ray is not None:
        from vlparse.integrations.ray import require_ray

        require_ray()
    make = backend_factory(opts.backend, family, only_page=only_page(cfg))
    made: list = []

    def factory():
        made.append(make())  # kept to report recorded answers no page used
        return made[-1]

    lock = None
    if getattr(store, "remote", False):
        from vlparse.run.remote import OutputLock, StoreUploads

        lock = OutputLock(store.url)
        lock.acquire()
        listener = StoreUploads(listener, store)
    progress = ProgressListener(listener, quiet=opts.quiet)
    for path, problem in problems:
        console.error(f"{path}: {problem}")
        if store is not None:
            store.log({"source": path, "page": None, "status": "failed", "error": problem})
    try:
        if problems and cfg.fail_fast:
            from vlparse.run.pipeline import FailFast

            raise FailFast(f"{problems[0][0]}: {problems[0][1]}")
        if opts.ray is not None:
            from vlparse.integrations.ray import RaySettings, run_on_ray, spec_for_run

            runner = Runner(cfg, factory, store=store, listener=progress)
            try:
                summary = run_on_ray(runner, sources, RaySettings(address=opts.ray, model_workers=opts.ray_workers),
                                     spec_for_run(cfg, opts, (cfg.pages or "").strip(), factory))
            finally:
                runner.close()
        else:
            summary = execute(cfg, factory, sources, listener=progress, store=store)
    finally:
        progress.close()
        if lock is not None:
            store.close()
            lock.release()
        elif store is not None:
            store.release()
    summary.inputs_failed += len(problems)
    if made:
        _warn_out_of_range_answers(made[0], summary)
    _log_summary(summary)
    return summary


def _warn_out_of_range_answers(backend, summary: Summary) -> None:
    """Recorded answers for pages past the end of their document: said, never silently dropped."""
    from vlparse.backends.recorded import RecordedBackend

    if not isinstance(backend, RecordedBackend):
        return
    docs = [d for d in summary.documents if d.error is None and d.page_count]
    found = []
    for source, page in backend.answers.by_key:
        if page is None:
            continue
        matching = [d for d in docs if source is None or source in (d.source, Path(d.source).name)]
        if matching and all(page > d.page_count for d in matching):
            d = matching[0]
            found.append(f"page {page}{f' of {source}' if source else ''} ({d.source} has {d.page_count})")
    if found:
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        console.warn(f"--from-output {backend.answers.origin}: {len(found)} answer(s) for pages past the end of the "
                     f"document, not used: {', '.join(found[:3])}{more}")


def exit_code(summary: Summary, n_inputs: int) -> int:
    """0 all done; 1 something failed; 2 when the only input given could not be read at all."""
    if n_inputs == 1 and summary.inputs_failed and not (summary.pages_done or summary.pages_resumed):
        return EXIT_USAGE
    return summary.exit_code


def _log_summary(s: Summary) -> None:
    parts = [f"{s.pages_done} page(s) done"]
    if s.pages_resumed:
        parts.append(f"{s.pages_resumed} already done")
    if s.pages_failed:
        parts.append(f"{s.pages_failed} failed")
    if s.inputs_failed:
        parts.append(f"{s.inputs_failed} input(s) unreadable")
    rate = (s.pages_done / s.seconds) if s.seconds else 0.0
    console.info(f"vlparse: {', '.join(parts)} in {s.seconds:.1f}s ({rate:.2f} pages/s)")


def run_fingerprint(cfg: RunConfig, *, model: str, backend: str, **extra) -> str:
    """The settings a finished page depends on (the one function ``doc``, ``ground`` and ``extract`` use);
    ``extra``: settings of one command's own (doc: the verification version, ``--snap-boxes``)."""
    task = cfg.task
    return fingerprint(task=task.name, want=task.want if task.name != "doc" else None, queries=list(task.queries),
                       family=task.family.name, model=model, backend=backend, prompt=task.prompt,
                       budget=cfg.budget, dpi=cfg.dpi, max_new_tokens=task.decoding.max_new_tokens,
                       **{k: v for k in ("answer_format", "date_order")  # extract's settings (doc's stay as they were)
                          if (v := getattr(task, k, None)) not in (None, "html")}, **extra)


def make_store(plan, cfg: RunConfig, opts: CommonOptions, **extra) -> Store | None:
    """The resume store of a ``-o DIR`` run, its lock taken (None for other outputs)."""
    if not plan.resumable:
        return None
    fp = run_fingerprint(cfg, model=opts.backend.run_model, backend=opts.backend.backend, **extra)
    if getattr(plan, "remote", None):
        from vlparse.run.remote import FsspecStore

        return FsspecStore(plan.remote, fp, plan.root)  # its own lock (vlparse.run.remote.OutputLock)
    store = Store(plan.root, fp)
    store.acquire(wait=opts.wait)
    return store
