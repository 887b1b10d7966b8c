"""``vlparse ground``: boxes or points for text queries, mapped to original-image pixels."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o

E = "Output"


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
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=16, help="Token limit per answer.",
                                                rich_help_panel=o.M)] = 2048,
    model: o.Model = None, family: o.Family = None, dtype: o.Dtype = "auto", quant: o.Quant = "none",
    device: o.Device = "auto", attn: o.Attn = "sdpa", batch_size: o.BatchSize = None,
    backend: o.Backend = "local", base_url: o.BaseUrl = None, api_key: o.ApiKey = None, api_model: o.ApiModel = None,
    concurrency: o.Concurrency = 4, timeout: o.Timeout = 600.0, from_output: o.FromOutput = None,
    max_pixels: o.MaxPixels = None, min_pixels: o.MinPixels = None, dpi: o.Dpi = None, password: o.Password = None,
    recursive: o.Recursive = False, retries: o.Retries = 1, fail_fast: o.FailFast = False, force: o.Force = False,
    jsonl: o.Jsonl = False, quiet: o.Quiet = False, verbose: o.Verbose = False, prompt_file: o.PromptFile = None,
) -> int:
    from vlparse.run import console
    from vlparse.run.ground import GroundOptions, run_ground, split_args
    from vlparse.backends.factory import BackendOptions

    console.configure(quiet=quiet, verbose=verbose)
    if query:
        inputs, queries = list(args), list(query)
    else:
        inputs, queries = split_args(list(args), [])
    bopts = BackendOptions(backend, model, family, dtype, quant, device, attn, batch_size, True, list(base_url or []),
                           api_key, api_model, concurrency, timeout, from_output)
    return run_ground(GroundOptions(inputs, bopts, output, pages, dpi, password, recursive, max_pixels, min_pixels,
                                    max_new_tokens, retries, fail_fast, force, jsonl or json_out, quiet, verbose,
                                    prompt_file, queries, points, True if (json_out or jsonl) else None, coco, overlay))


COMMAND = ("ground", ground, "Find boxes or points for text queries; coordinates in original-image pixels.",
           "Examples: vlparse ground photo.jpg \"red car\" | vlparse ground a.png b.png --query cat --query dog --json | "
           "vlparse ground scan.pdf --page 3 \"signature\" --overlay out/ | "
           "vlparse ground photo.jpg car --family qwen2.5-vl --from-output answer.txt --coco cars.json")
