"""``vlparse ground``: boxes or points for text queries, mapped to original-image pixels."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o

E = "Output"


@o.shared_options
def ground(
    args: Annotated[list[str], typer.Argument(metavar="IMAGE... QUERY...",
                                              help="Images (or PDFs with --pages, or - for a list on stdin), then the "
                                                   "queries.")],
    query: Annotated[Optional[list[str]], typer.Option("--query", help="A query (repeatable; then every positional "
                                                       "argument is an image).")] = None,
    points: Annotated[bool, typer.Option("--points", help="Ask for points instead of boxes (Qwen-VL and Qwen2-VL only "
                                                       "answer with boxes: their centres become the points).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines even on a terminal.", rich_help_panel=E)] = False,
    coco: Annotated[Optional[str], typer.Option("--coco", help="Write a COCO detection file (bbox = x, y, w, h in "
                                                "original pixels; points as keypoints).",
                                                rich_help_panel=E)] = None,
    overlay: Annotated[Optional[str], typer.Option("--overlay", help="Directory for PNG copies of the images (PDF "
                                                   "pages) with boxes, points and labels drawn; inputs are never "
                                                   "touched.", rich_help_panel=E)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="JSONL file, or a directory (one JSON per "
                                                  "image, manifest, resumable).", rich_help_panel=E)] = None,
    pages: Annotated[Optional[str], typer.Option("--pages", "--page", help="PDF pages, e.g. 3 or 1-2.",
                                                 rich_help_panel=o.B)] = None,
    shared: o.Shared = None,
) -> int:
    from vlparse.core.options import GroundOptions
    from vlparse.run import console, run_ground, split_args

    console.configure(quiet=shared.run["quiet"], verbose=shared.run["verbose"])
    if query:
        inputs, queries = list(args), list(query)
    else:
        inputs, queries = split_args(list(args), [])
    jsonl = shared.run.pop("jsonl")
    return run_ground(GroundOptions(inputs=inputs, backend=shared.backend, output=output, pages=pages, **shared.run,
                                    jsonl=jsonl or json_out, queries=queries, points=points,
                                    json_lines=True if (json_out or jsonl) else None, coco=coco,
                                    overlay_dir=overlay))


COMMAND = ("ground", ground, "Find boxes or points for text queries; coordinates in original-image pixels.",
           "Examples: vlparse ground photo.jpg \"red car\" | vlparse ground a.png b.png --query cat --query dog --json | "
           "vlparse ground scan.pdf --page 3 \"signature\" --overlay out/ | "
           "vlparse ground photo.jpg car --family qwen2.5-vl --from-output answer.txt --coco cars.json")
