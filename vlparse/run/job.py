"""What ``doc`` and ``ground`` share around the pipeline: inputs, budget, backend, store, summary."""

from __future__ import annotations

import sys
from pathlib import Path

from vlparse.run import console
from vlparse.core.errors import EXIT_USAGE
from vlparse.core.families import Family, pixel_budget
from vlparse.core.geometry import Budget
from vlparse.run.pipeline import RunConfig, Runner, Summary
from vlparse.backends.factory import backend_factory
from vlparse.core.options import RunOptions
from vlparse.run.store import Store, fingerprint


#: the options every job shares (kept under its old name for the jobs' signatures)
CommonOptions = RunOptions


def gather_inputs(opts: CommonOptions) -> tuple[list[str], list[tuple[str, str]], bool]:
    """(readable sources, [(path, problem)], whether the inputs came as a list/directory)."""
    from vlparse.pages.inputs import expand_inputs

    res = expand_inputs(opts.inputs, recursive=opts.recursive, stdin=sys.stdin)
    many = ("-" in opts.inputs or len(opts.inputs) > 1 or len(res.paths) > 1
            or any(Path(p).is_dir() or set("*?[") & set(p) for p in opts.inputs))
    return list(res.paths), list(res.problems), many


def budget_for(family: Family, task: str, opts: CommonOptions) -> Budget:
    return pixel_budget(family, task, max_pixels=opts.max_pixels, min_pixels=opts.min_pixels)


def run_pipeline(cfg: RunConfig, opts: CommonOptions, family: Family, sources: list[str], problems, listener,
                 store: Store | None) -> Summary:
    from vlparse.run.progress import ProgressListener

    selection = (cfg.pages or "").strip()
    factory = backend_factory(opts.backend, family, only_page=int(selection) if selection.isdigit() else None)
    if opts.backend.from_output is not None:
        cfg.retries = 0  # the same recorded answer would come back
    progress = ProgressListener(listener, quiet=opts.quiet)
    runner = Runner(cfg, factory, store=store, listener=progress)
    for path, problem in problems:
        console.error(f"{path}: {problem}")
        if store is not None:
            store.log({"source": path, "page": None, "status": "failed", "error": problem})
    if problems and cfg.fail_fast:
        from vlparse.run.pipeline import FailFast

        raise FailFast(f"{problems[0][0]}: {problems[0][1]}")
    try:
        summary = runner.run(sources)
    finally:
        progress.close()
        runner.close()
    summary.inputs_failed += len(problems)
    _log_summary(summary)
    return summary


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


def make_store(plan, **settings) -> Store | None:
    if not plan.resumable:
        return None
    return Store(plan.root, fingerprint(**settings))
