"""``vlparse ground``: boxes or points for text queries, in original-image pixels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from vlparse.run import console
from vlparse.core.errors import UsageError
from vlparse.core.results import FAILED, PageResult, ground_record
from vlparse.run.outputs import plan_outputs
from vlparse.run.pipeline import DocumentRun, Listener
from vlparse.core.options import GroundOptions
from vlparse.run.job import (check_export_paths, exit_code, gather_inputs, ground_job, make_store, remote_output,
                              run_pipeline)
from vlparse.backends.factory import resolve_family


def split_args(args: list[str], extra_queries: list[str]) -> tuple[list[str], list[str]]:
    """``IMAGE... QUERY...``: leading arguments that are paths (or -) are inputs, the rest queries."""
    inputs: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-" or Path(a).exists() or (not extra_queries and i < len(args) - 1 and _looks_like_file(a)):
            inputs.append(a)
            i += 1
        else:
            break
    queries = args[i:] + list(extra_queries)
    if not inputs:
        raise UsageError("give at least one image (or - for a list on stdin) before the queries")
    if not queries:
        raise UsageError("give at least one query, e.g. vlparse ground photo.jpg \"red car\"")
    return inputs, queries


def _looks_like_file(a: str) -> bool:
    return Path(a).suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".pdf"}


def record(result: PageResult, family: str) -> dict[str, Any]:
    """The per-image JSON object (coordinates in original-image pixels)."""
    return ground_record(result, family)


class GroundListener(Listener):
    def __init__(self, opts: GroundOptions, plan, family, table: bool):
        self.opts, self.plan, self.family, self.table = opts, plan, family, table
        self.results: list[PageResult] = []
        self._lines: list[str] = []  # -o FILE: written atomically when the run is complete

    def on_page(self, result: PageResult, doc: DocumentRun, resumed: bool) -> None:
        self.results.append(result)
        line = json.dumps(record(result, self.family.name), ensure_ascii=False) + "\n"
        if self.plan.mode == "file":
            self._lines.append(line)
        elif self.plan.mode == "dir":
            from vlparse.run.atomic import atomic_write_bytes, same_content

            suffix = f"-p{result.info.page}" if result.info.kind == "pdf" or result.info.page > 1 else ""
            target = self.plan.root / f"{self.plan.names[result.info.source]}{suffix}.json"
            if not same_content(target, line.encode("utf-8", "backslashreplace")):  # a resumed page's file stays untouched
                atomic_write_bytes(target, line.encode("utf-8", "backslashreplace"))
        if not self.table and (self.plan.mode in ("stdout",) or self.opts.jsonl or self.plan.mode == "none"):
            sys.stdout.write(line)
            sys.stdout.flush()

    def finish(self) -> None:
        if self._lines:
            from vlparse.run.atomic import atomic_write_text

            atomic_write_text(self.plan.root, "".join(self._lines))
        if self.table:
            print_table(self.results)
        if self.opts.coco:
            from vlparse.export.coco import build_coco, write_coco

            items = [(image_name(r), r.info.width_px, r.info.height_px, r.detections)
                     for r in self.results if r.status != FAILED]
            try:
                write_coco(self.opts.coco, build_coco(items))
            except OSError as e:
                raise UsageError(f"--coco {self.opts.coco}: {e.strerror or e}") from None
        if self.opts.overlay_dir:
            from vlparse.export.overlays import write_detection_overlays

            try:
                write_detection_overlays(self.results, self.opts.overlay_dir, self.plan.names,
                                         password=self.opts.password)
            except OSError as e:
                raise UsageError(f"--overlay {self.opts.overlay_dir}: {e.strerror or e}") from None


def image_name(result: PageResult) -> str:
    """How an image is named in COCO files: the path as given, ``#page=N`` for a PDF page or TIFF frame."""
    info = result.info
    return f"{info.source}#page={info.page}" if info.kind == "pdf" or info.page > 1 else info.source


def print_table(results: list[PageResult]) -> None:
    """One Rich table per image (what a terminal gets instead of JSON lines)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    for r in results:
        where = r.info.source + (f" page {r.info.page}" if r.info.kind == "pdf" or r.info.page > 1 else "")
        t = Table("label", "box (x1, y1, x2, y2)", "point (x, y)",
                  title=escape(f"{where}  {r.info.width_px}x{r.info.height_px}  [{r.status}]"),
                  caption=None if r.detections or r.error else "no detections")
        for d in r.detections:
            t.add_row(escape(d.label), ", ".join(f"{v:g}" for v in d.bbox) if d.bbox else "",
                      ", ".join(f"{v:g}" for v in d.point) if d.point else "")
        con.print(t)
        for w in r.warnings:
            con.print(f"  warning: {w}", style="yellow", markup=False)
        if r.error:
            con.print(f"  error: {r.error}", style="red", markup=False)


def run_ground(opts: GroundOptions) -> int:
    check_export_paths(coco=opts.coco, overlay=opts.overlay_dir)
    family = resolve_family(opts.backend) if opts.queries else None
    task, cfg = ground_job(family, opts, opts.queries, opts.points)
    sources, problems, many = gather_inputs(opts)
    if not sources and not problems:
        raise UsageError("no inputs")
    remote = remote_output(opts)
    if opts.output is None:
        from vlparse.run.outputs import OutputPlan, unique_names

        plan = OutputPlan("none", Path("."), unique_names(sources))
    else:
        plan = plan_outputs(opts.output, sources or [p for p, _ in problems], ["jsonl"], many=many)
        if plan.mode == "dir":
            plan.resumable = True
        plan.remote = remote
    if opts.overlay_dir and any("://" in s for s in sources):
        raise UsageError("--overlay reads the input again on this machine; it needs local inputs, not URLs")
    table = plan.mode == "none" and not opts.jsonl and opts.json_lines is not True and console.stdout_is_tty()
    if opts.json_lines is False and plan.mode == "none":
        table = True
    model_name = opts.backend.run_model
    store = make_store(plan, cfg, opts)
    listener = GroundListener(opts, plan, family, table)
    summary = run_pipeline(cfg, opts, family, sources, problems, listener, store)
    listener.finish()
    return exit_code(summary, len(sources) + len(problems))
