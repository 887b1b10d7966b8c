"""``vlparse extract``: the fields of a schema from PDFs and images, every value with its evidence box."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o

E = "Output"
X = "Schema"


class DateOrder(str, Enum):
    dmy = "dmy"
    mdy = "mdy"


def extract(
    inputs: Annotated[list[str], typer.Argument(help="PDFs, images, directories, or - for a list of paths on stdin.")],
    schema: Annotated[Optional[str], typer.Option("--schema", help="A JSON Schema file: an object whose properties "
                                                  "are the fields (string, number, integer, date = string with "
                                                  "format date, boolean, arrays of flat objects).",
                                                  rich_help_panel=X)] = None,
    field: Annotated[Optional[list[str]], typer.Option("--field", help="A field NAME[:TYPE] instead of --schema "
                                                       "(repeatable; TYPE string (default), number, integer, date, "
                                                       "boolean).", rich_help_panel=X)] = None,
    date_order: Annotated[DateOrder, typer.Option("--date-order", help="How to read numeric dates whose day and "
                                                  "month could be swapped (03/04/2024); such values are flagged.",
                                                  rich_help_panel=X)] = DateOrder.dmy,
    csv: Annotated[Optional[str], typer.Option("--csv", help="Also write a CSV file: one row per document.",
                                               rich_help_panel=E)] = None,
    review: Annotated[bool, typer.Option("--review", help="A self-contained HTML review page per document with each "
                                         "field's box.", rich_help_panel=E)] = False,
    overlay: Annotated[Optional[str], typer.Option("--overlay", help="Directory for one PNG per page with each "
                                                   "field's box and name drawn.", rich_help_panel=E)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="JSON file, or a directory (one JSON per "
                                                  "document, manifest, resumable). Default: JSON on stdout.",
                                                  rich_help_panel=E)] = None,
    pages: Annotated[Optional[str], typer.Option("--pages", help="Page selection, e.g. 1-3,7 or 5-.",
                                                 rich_help_panel=o.B)] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=16, help="Token limit per page answer.",
                                                rich_help_panel=o.M)] = 4096,
    model: o.Model = None, family: o.Family = None, dtype: o.Dtype = "auto", quant: o.Quant = "none",
    device: o.Device = "auto", attn: o.Attn = "sdpa", batch_size: o.BatchSize = None,
    backend: o.Backend = "local", base_url: o.BaseUrl = None, api_key: o.ApiKey = None, api_model: o.ApiModel = None,
    concurrency: o.Concurrency = 4, timeout: o.Timeout = 600.0, from_output: o.FromOutput = None,
    max_pixels: o.MaxPixels = None, min_pixels: o.MinPixels = None, dpi: o.Dpi = None, password: o.Password = None,
    recursive: o.Recursive = False, retries: o.Retries = 1, fail_fast: o.FailFast = False, force: o.Force = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON line per document on stdout as soon as it is done.",
                                        rich_help_panel=o.R)] = False,
    quiet: o.Quiet = False, verbose: o.Verbose = False, prompt_file: o.PromptFile = None,
) -> int:
    from vlparse.backends.factory import BackendOptions
    from vlparse.run import console
    from vlparse.run.extract import ExtractOptions, run_extract

    console.configure(quiet=quiet, verbose=verbose)
    bopts = BackendOptions(backend=backend, model=model, family=family, dtype=dtype, quant=quant, device=device,
                           attn=attn, batch_size=batch_size, base_urls=list(base_url or []), api_key=api_key,
                           api_model=api_model, concurrency=concurrency, timeout=timeout, from_output=from_output)
    return run_extract(ExtractOptions(inputs=inputs, backend=bopts, output=output, pages=pages, dpi=dpi,
                                      password=password, recursive=recursive, max_pixels=max_pixels,
                                      min_pixels=min_pixels, max_new_tokens=max_new_tokens, retries=retries,
                                      fail_fast=fail_fast, force=force, jsonl=jsonl, quiet=quiet, verbose=verbose,
                                      prompt_file=prompt_file, schema_file=schema, fields=list(field or []),
                                      date_order=date_order.value, formats=["review"] if review else [],
                                      overlay_dir=overlay, csv=csv))

COMMAND = ("extract", extract, "Extract the fields of a schema; every value with the page and box it was read from.",
           "Examples: vlparse extract invoice.pdf --field \"invoice number\" --field \"total:number\" | "
           "vlparse extract invoices/ -o out/ --schema invoice.schema.json --csv out/invoices.csv --review | "
           "vlparse extract scan.png --schema s.json --family qwen3-vl --from-output answer.json")
