"""``vlparse extract``: the fields of a schema from PDFs and images, every value with its evidence box."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vlparse.commands import _options as o
from vlparse.core.options import DateOrder

E = "Output"
X = "Schema"


@o.shared_options
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
                                                  rich_help_panel=X)] = DateOrder.DMY,
    csv: Annotated[Optional[str], typer.Option("--csv", help="Also write a CSV file: one row per document.",
                                               rich_help_panel=E)] = None,
    review: Annotated[bool, typer.Option("--review", help="A self-contained HTML review page per document with each "
                                         "field's box.", rich_help_panel=E)] = False,
    overlay: Annotated[Optional[str], typer.Option("--overlay", help="Directory for one PNG per page with each "
                                                   "field's box and name drawn.", rich_help_panel=E)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="JSON file, or a directory (one JSON per "
                                                  "document, manifest, resumable). Default: JSON on stdout "
                                                  "(--jsonl: one line per document).",
                                                  rich_help_panel=E)] = None,
    pages: Annotated[Optional[str], typer.Option("--pages", help="Page selection, e.g. 1-3,7 or 5-.",
                                                 rich_help_panel=o.B)] = None,
    shared: o.Shared = None,
) -> int:
    from vlparse.core.options import ExtractOptions
    from vlparse.run import console, run_extract

    console.configure(quiet=shared.run["quiet"], verbose=shared.run["verbose"])
    return run_extract(ExtractOptions(inputs=inputs, backend=shared.backend, output=output, pages=pages, **shared.run,
                                      schema_file=schema, fields=list(field or []), date_order=date_order,
                                      formats=["review"] if review else [], overlay_dir=overlay, csv=csv))


COMMAND = ("extract", extract, "Extract the fields of a schema; every value with the page and box it was read from.",
           "Examples: vlparse extract invoice.pdf --field \"invoice number\" --field \"total:number\" | "
           "vlparse extract invoices/ -o out/ --schema invoice.schema.json --csv out/invoices.csv --review | "
           "vlparse extract scan.png --schema s.json --family qwen3-vl --from-output answer.json")
