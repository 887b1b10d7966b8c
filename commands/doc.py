"""``vlparse doc``: PDFs and images to QwenVL HTML, Markdown, JSON (and hOCR, ALTO, searchable PDF...)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o
from vlparse.core.options import AnswerFormat

E = "Exports"


@o.shared_options
def doc(
    inputs: Annotated[list[str], typer.Argument(help="PDFs, images, directories, or - for a list of paths on stdin.")],
    html: Annotated[bool, typer.Option("--html", help="Self-contained HTML, blocks keep data-bbox.",
                                       rich_help_panel=E)] = False,
    md: Annotated[bool, typer.Option("--md", help="Markdown.", rich_help_panel=E)] = False,
    json_out: Annotated[bool, typer.Option("--json", help="The document model (default).", rich_help_panel=E)] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Raw model answers (JSONL; re-export with --from-output).",
                                      rich_help_panel=E)] = False,
    hocr: Annotated[bool, typer.Option("--hocr", help="hOCR 1.2.", rich_help_panel=E)] = False,
    alto: Annotated[bool, typer.Option("--alto", help="ALTO 4 XML.", rich_help_panel=E)] = False,
    searchable_pdf: Annotated[bool, typer.Option("--searchable-pdf", help="A copy of the PDF with an invisible text "
                                                 "layer.", rich_help_panel=E)] = False,
    review: Annotated[bool, typer.Option("--review", help="A self-contained HTML review page per document.",
                                         rich_help_panel=E)] = False,
    snap_boxes: Annotated[bool, typer.Option("--snap-boxes", help="Tighten each block verified against the PDF's "
                                             "text layer to its words' extent (the model's box is kept in "
                                             "verify).", rich_help_panel=E)] = False,
    chunks: Annotated[bool, typer.Option("--chunks", help="Retrieval chunks as JSONL (<name>.chunks.jsonl): "
                                         "heading-aware, with page and boxes of every block.", rich_help_panel=E)] = False,
    chunk_tokens: Annotated[Optional[int], typer.Option("--chunk-tokens", min=16, help="--chunks: tokens per chunk "
                                                        "at most (default 512).", rich_help_panel=E)] = None,
    overlay: Annotated[Optional[str], typer.Option("--overlay", help="Directory for one PNG per page with the blocks "
                                                   "drawn.", rich_help_panel=E)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="File, directory (resumable, with a "
                                                  "manifest), or - for stdout. Default: <input stem>.<ext> here.",
                                                  rich_help_panel=E)] = None,
    pages: Annotated[Optional[str], typer.Option("--pages", help="Page selection, e.g. 1-3,7 or 5-.",
                                                 rich_help_panel=o.B)] = None,
    answer_format: Annotated[AnswerFormat, typer.Option("--answer-format", help="What the model writes: QwenVL HTML "
                                                        "(every block boxed) or qwenvl-markdown (Qwen3-VL: only "
                                                        "tables and images carry boxes).",
                                                        rich_help_panel=o.M)] = AnswerFormat.HTML,
    shared: o.Shared = None,
) -> int:
    from vlparse.core.options import DocOptions
    from vlparse.run import console, run_doc

    console.configure(quiet=shared.run["quiet"], verbose=shared.run["verbose"])
    formats = [f for f, on in (("json", json_out), ("html", html), ("md", md), ("raw", raw), ("hocr", hocr),
                               ("alto", alto), ("searchable-pdf", searchable_pdf), ("review", review),
                               ("chunks", chunks)) if on]
    return run_doc(DocOptions(inputs=inputs, backend=shared.backend, output=output, pages=pages, **shared.run,
                              formats=formats, overlay_dir=overlay, answer_format=answer_format,
                              snap_boxes=snap_boxes, chunk_tokens=chunk_tokens))


COMMAND = ("doc", doc, "Parse PDFs and images into grounded blocks: JSON, HTML, Markdown and more.",
           "Examples: vlparse doc report.pdf --html --md | vlparse doc scans/ -r -o out/ --jsonl | "
           "find . -name '*.pdf' | vlparse doc - -o out/ --jsonl | "
           "vlparse doc report.pdf --family qwen2.5-vl --from-output answers.jsonl --json")
