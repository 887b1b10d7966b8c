"""``vlparse eval``: how good are the parses? Self-benchmark from the PDFs' text layer (or hand-written
references), olmOCR-Bench tests, COCO grounding AP/AR, two runs side by side."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o


@o.shared_options
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
    shared: o.Shared = None,
) -> int:
    from vlparse.core.options import DocOptions
    from vlparse.run import EvalOptions, console, run_eval

    console.configure(quiet=shared.run["quiet"], verbose=shared.run["verbose"])
    doc_opts = DocOptions(inputs=[], backend=shared.backend, **{**shared.run, "quiet": True, "jsonl": False})
    return run_eval(EvalOptions(inputs, from_run, compare, refs, list(olmocr or []), coco_gt, output, min_score,
                                json_out, doc_opts))


COMMAND = ("eval", eval_, "Score parses: text layer self-benchmark, reference answers, olmOCR-Bench, COCO AP/AR.",
           "Examples: vlparse eval benchmarks/corpus --from-run out/ | vlparse eval docs/ --model PATH --min-score "
           "0.8 | vlparse eval benchmarks/corpus --compare runA/ runB/")
