"""``vlparse env``: versions, accelerators and supported model families."""

from __future__ import annotations

import json

import typer


def env(json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> int:
    from rich.console import Console
    from rich.table import Table

    from vlparse.tools import environment_report

    info = environment_report()
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return 0
    con = Console()
    con.print(f"vlparse {info['vlparse']}  (Python {info['python']}, {info['platform']})")
    t = Table("package", "version")
    for k, v in info["packages"].items():
        t.add_row(k, v or "[red]not installed[/red]")
    con.print(t)
    cuda = info["cuda"]
    if cuda["available"]:
        for d in cuda["devices"]:
            con.print(f"GPU {d['index']}: {d['name']} ({d['free_gib']} of {d['total_gib']} GiB free, sm {d['capability']})")
    else:
        con.print("GPU: none (models run on the CPU: fine for tiny test models, slow for real ones)")
    f = Table("family", "coordinates", "grounding syntax", "factor", "QwenVL HTML", "local", "example model")
    for x in info["families"]:
        f.add_row(x["name"], x["coords"], x["grounding"], str(x["factor"]), "yes" if x["document_html"] else "no",
                  "yes" if x["local"] else "server/--from-output", x["example"])
    con.print(f)
    con.print(f"default model: {info['default_model']} (override with --model or VLPARSE_MODEL)")
    return 0


COMMAND = ("env", env, "Show versions, GPUs and the supported Qwen VL families.",
           "Example: vlparse env --json")
