"""``vlparse eval``: how good are the parses? Self-benchmark from the PDFs' text layer (or hand-written
references), olmOCR-Bench tests, COCO grounding AP/AR, two runs side by side."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o


def eval_(
    inputs: Annotated[str, typer.Argument(help="A born-digital PDF or a directory of them (the benchmark).")],
    from_run: Annotated[Optional[str], typer.Option("--from-run", help="Score an existing run: the -o DIR of vlparse "
                                                    "doc (or, with --coco-gt, vlparse ground --jsonl output) "
                                                    "instead of running the model.")] = None,
    compare: Annotated[Optional[tuple[str, str]], typer.Option("--compare", help="Two run directories (vlparse doc "
                                                               "-o DIR) scored side by side.")] = None,
    refs: Annotated[Optional[str], typer.Option("--refs", help="Directory of hand-written reference answers "
                                                "(<pdf stem>.json); default: DIR/refs when it exists.")] = None,
    olmocr: Annotated[Optional[list[str]], typer.Option("--olmocr-tests", help="olmOCR-Bench test file (JSONL, "
                                                        "repeatable): score the run's Markdown with its rules.")] = None,
    coco_gt: Annotated[Optional[str], typer.Option("--coco-gt", help="COCO ground truth: AP/AR of grounding "
                                                   "results (pycocotools).")] = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Exit 1 when the overall score is "
                                                       "below this (0-1; CI gating).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout even on a terminal.")] = False,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Where the model run writes its "
                                                  "results (default: a temporary directory).")] = None,
    model: o.Model = None, family: o.Family = None, dtype: o.Dtype = "auto", quant: o.Quant = "none",
    device: o.Device = "auto", batch_size: o.BatchSize = None, backend: o.Backend = "local",
    base_url: o.BaseUrl = None, api_key: o.ApiKey = None, api_model: o.ApiModel = None,
    from_output: o.FromOutput = None, max_pixels: o.MaxPixels = None, min_pixels: o.MinPixels = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=16, help="Token limit per page answer.",
                                                rich_help_panel=o.M)] = 8192,
    quiet: o.Quiet = False,
) -> int:
    from vlparse.backends.factory import BackendOptions
    from vlparse.eval.job import EvalOptions, run_eval
    from vlparse.run import console
    from vlparse.run.doc import DocOptions

    console.configure(quiet=quiet)
    bopts = BackendOptions(backend, model, family, dtype, quant, device, "sdpa", batch_size, True,
                           list(base_url or []), api_key, api_model, 4, 600.0, from_output)
    doc_opts = DocOptions([], bopts, max_pixels=max_pixels, min_pixels=min_pixels, max_new_tokens=max_new_tokens,
                          quiet=True)
    return run_eval(EvalOptions(inputs, from_run, compare, refs, list(olmocr or []), coco_gt, output, min_score,
                                json_out, doc_opts))


COMMAND = ("eval", eval_, "Score parses: text layer self-benchmark, reference answers, olmOCR-Bench, COCO AP/AR.",
           "Examples: vlparse eval benchmarks/corpus --from-run out/ | vlparse eval docs/ --model PATH --min-score "
           "0.8 | vlparse eval benchmarks/corpus --compare runA/ runB/")
