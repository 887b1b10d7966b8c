"""``vlparse probe``: check a served model before a big run (see vlparse.tools.probe)."""

from __future__ import annotations

import json

import typer

from vlparse.commands import _options as o


def probe(
    base_url: list[str] = typer.Option(..., "--base-url", help="Server URL, e.g. http://127.0.0.1:8000/v1 "
                                       "(repeat to check several)."),
    family: o.Family = None,
    api_model: o.ApiModel = None,
    api_key: o.ApiKey = None,
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds for the probe request."),
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> int:
    from vlparse.tools import probe_server

    reports = [probe_server(url, family=family, api_model=api_model, api_key=api_key, timeout=timeout)
               for url in base_url]
    if json_out:
        typer.echo(json.dumps([r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict(), indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        def show(v) -> str:
            return {True: "yes", False: "NO", None: "unknown"}.get(v, str(v)) if isinstance(v, (bool, type(None))) \
                else str(v)

        con = Console()
        for r in reports:
            t = Table("check", "result", title=r.server)
            for key in ("model", "family", "max_model_len", "kwargs_accepted", "image_tokens_ok", "coord_space"):
                t.add_row(key, show(getattr(r, key)))
            con.print(t)
            if r.note:
                con.print(r.note, markup=False)
    return 0 if all(r.conformant for r in reports) else 1


COMMAND = ("probe", probe, "Check a served model before a run: model, family, context length, whether the server "
           "keeps page images at their size and answers boxes in the family's coordinate space. Exit 1 when a "
           "check fails.",
           "Example: vlparse probe --base-url http://127.0.0.1:8000/v1 --json")
