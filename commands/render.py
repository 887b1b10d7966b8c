"""``vlparse render``: pages at the model's native size (PNG) plus a JSON sidecar each; no model needed."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o
from vlparse.core.options import TaskKind


def render(
    inputs: Annotated[list[str], typer.Argument(help="PDFs, images, directories, or - for a list of paths on stdin.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Directory: <input>/page-NNNN.png + page-NNNN.json.")],
    family: Annotated[str, typer.Option("--family", help="qwen-vl | qwen2-vl | qwen2.5-vl | qwen3-vl: decides the "
                                        "factor and default budget.")] = "qwen2.5-vl",
    task: Annotated[TaskKind, typer.Option("--task", help="Which default pixel budget to use (points: ground's).")]
    = TaskKind.DOC,
    image_format: Annotated[str, typer.Option("--format", help="png | webp (lossless).")] = "png",
    pages: Annotated[Optional[str], typer.Option("--pages", help="Page selection, e.g. 1-3,7 or 5-.",
                                                 rich_help_panel=o.B)] = None,
    max_pixels: o.MaxPixels = None, min_pixels: o.MinPixels = None, dpi: o.Dpi = None, password: o.Password = None,
    recursive: o.Recursive = False, force: o.Force = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON line per rendered page on stdout.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", min=1, help="Processes rendering in parallel "
                                                   "[default: the CPU count, at most 8].")] = None,
    quiet: o.Quiet = False,
) -> int:
    import os

    import vlparse
    from vlparse.run import RenderOptions, console, run_render

    console.configure(quiet=quiet)
    fam = vlparse.get_family(family)
    budget = vlparse.pixel_budget(fam, task.value, max_pixels=max_pixels, min_pixels=min_pixels)
    return run_render(RenderOptions(inputs=inputs, output=output, family=fam, budget=budget, task=task.value,
                                    pages=pages, dpi=dpi, password=password, recursive=recursive,
                                    image_format=image_format, force=force, jsonl=jsonl,
                                    workers=workers or min(8, os.cpu_count() or 1)))


COMMAND = ("render", render, "Render pages at the model's native size (PNG + JSON sidecar); no model needed.",
           "Examples: vlparse render report.pdf -o pages/ | find . -name '*.pdf' | vlparse render - -o pages/ "
           "--family qwen3-vl --jsonl")
