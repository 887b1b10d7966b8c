"""``vlparse doc``: PDFs and images to QwenVL HTML, Markdown, JSON (and hOCR, ALTO, searchable PDF...)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o

E = "Exports"


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
    overlay: Annotated[Optional[str], typer.Option("--overlay", help="Directory for one PNG per page with the blocks "
                                                   "drawn.", rich_help_panel=E)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="File, directory (resumable, with a "
                                                  "manifest), or - for stdout. Default: <input stem>.<ext> here.",
                                                  rich_help_panel=E)] = None,
    pages: Annotated[Optional[str], typer.Option("--pages", help="Page selection, e.g. 1-3,7 or 5-.",
                                                 rich_help_panel=o.B)] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=16, help="Token limit per page answer.",
                                                rich_help_panel=o.M)] = 8192,
    model: o.Model = None, family: o.Family = None, dtype: o.Dtype = "auto", quant: o.Quant = "none",
    device: o.Device = "auto", attn: o.Attn = "sdpa", batch_size: o.BatchSize = None,
    backend: o.Backend = "local", base_url: o.BaseUrl = None, api_key: o.ApiKey = None, api_model: o.ApiModel = None,
    concurrency: o.Concurrency = 4, timeout: o.Timeout = 600.0, from_output: o.FromOutput = None,
    max_pixels: o.MaxPixels = None, min_pixels: o.MinPixels = None, dpi: o.Dpi = None, password: o.Password = None,
    recursive: o.Recursive = False, retries: o.Retries = 1, fail_fast: o.FailFast = False, force: o.Force = False,
    jsonl: o.Jsonl = False, quiet: o.Quiet = False, verbose: o.Verbose = False, prompt_file: o.PromptFile = None,
) -> int:
    from vlparse.run import console
    from vlparse.run.doc import DocOptions, run_doc
    from vlparse.backends.factory import BackendOptions

    console.configure(quiet=quiet, verbose=verbose)
    formats = [f for f, on in (("json", json_out), ("html", html), ("md", md), ("raw", raw), ("hocr", hocr),
                               ("alto", alto), ("searchable-pdf", searchable_pdf), ("review", review)) if on]
    bopts = BackendOptions(backend, model, family, dtype, quant, device, attn, batch_size, True, list(base_url or []),
                           api_key, api_model, concurrency, timeout, from_output)
    return run_doc(DocOptions(inputs, bopts, output, pages, dpi, password, recursive, max_pixels, min_pixels,
                              max_new_tokens, retries, fail_fast, force, jsonl, quiet, verbose, prompt_file,
                              formats, overlay))


COMMAND = ("doc", doc, "Parse PDFs and images into grounded blocks: JSON, HTML, Markdown and more.",
           "Examples: vlparse doc report.pdf --html --md | vlparse doc scans/ -r -o out/ --jsonl | "
           "find . -name '*.pdf' | vlparse doc - -o out/ --jsonl | "
           "vlparse doc report.pdf --family qwen2.5-vl --from-output answers.jsonl --json")
