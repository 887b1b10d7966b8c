"""``vlparse bench``: the cookbook way (one page at a time through ``generate``) against vlparse's local path."""

from __future__ import annotations

from typing import Annotated

import typer

from vlparse.commands import _options as o
from vlparse.core.options import Quant

P = o.B


def bench(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Local directory (or cached hub id) of a Qwen VL "
                                              "checkpoint, e.g. a tiny one from vlparse.tools.synthetic.build_checkpoint.",
                                              rich_help_panel=o.M)] = None,
    random_weights: Annotated[str | None, typer.Option(
        "--random-weights", metavar="ARCH", help="Build a random-weight model of a released architecture instead of "
        "loading one: qwen2.5-vl-7b | qwen2.5-vl-3b | qwen3-vl-8b (speed does not depend on weight values; needs a "
        "GPU).", rich_help_panel=o.M)] = None,
    check: Annotated[bool, typer.Option("--check", help="With --random-weights: build the architecture on the meta "
                                        "device and compare its parameter count with the published one; run "
                                        "nothing.", rich_help_panel=o.M)] = False,
    pdf: Annotated[str | None, typer.Option("--pdf", help="Benchmark on this PDF's pages (default: a synthetic "
                                               "A4 text document).", rich_help_panel=P)] = None,
    pages: Annotated[str | None, typer.Option("--pages", help="Page selection of --pdf, e.g. 1-16.",
                                                 rich_help_panel=P)] = None,
    page_count: Annotated[int | None, typer.Option("--page-count", min=1, help="Pages of the synthetic document "
                                                      "(default: the largest --batch-size).", rich_help_panel=P)] = None,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels", min=1, help="Pixel budget per page (default: "
                                                      "the family's document budget on a GPU; 64 visual tokens on the "
                                                      "CPU, where a tiny checkpoint's prefill would otherwise dwarf "
                                                      "its decoding).", rich_help_panel=P)] = None,
    password: o.Password = None,
    new_tokens: Annotated[int, typer.Option("--new-tokens", min=2, help="Tokens generated per page (EOS ignored, so "
                                            "both paths produce the same number).")] = 128,
    batch_size: Annotated[list[int] | None, typer.Option("--batch-size", min=1, help="Batch size of vlparse's path "
                                                            "(repeat for several) (default: 1, 4, 16).")] = None,
    quant: Annotated[list[Quant] | None, typer.Option("--quant", help="Quantisation (repeat to measure "
                                                       "several) (default: none).", rich_help_panel=o.M)] = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs per measurement; the fastest counts (other work "
                                        "on the machine only ever slows a run down).")] = 3,
    decode: Annotated[str, typer.Option("--decode", help="vlparse's decode loop: auto (CUDA graphs on one GPU, else "
                                        "eager) | eager | graph | static (the graph's fixed-shape step run eagerly).",
                                        rich_help_panel=o.M)] = "auto",
    vllm_python: Annotated[str | None, typer.Option("--vllm-python", metavar="PYTHON", help="Also measure vLLM's "
                                                    "offline engine on the same pages, in a subprocess of this Python "
                                                    "(an environment with vLLM and vlparse installed).",
                                                    rich_help_panel=o.M)] = None,
    dtype: o.Dtype = "auto", device: o.Device = "auto", attn: o.Attn = "sdpa",
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of the table.")] = False,
    verbose: o.Verbose = False,
) -> int:
    from vlparse.run import console
    from vlparse.tools import BenchOptions, bench_json, print_bench_table, run_bench

    console.configure(verbose=verbose)
    opts = BenchOptions(model=model, random_weights=random_weights, check=check, pdf=pdf, pages=pages,
                        page_count=page_count, new_tokens=new_tokens, batch_sizes=list(batch_size or [1, 4, 16]),
                        quants=[str(q) for q in quant or [Quant.NONE]], dtype=dtype, device=device, attn=attn, max_pixels=max_pixels,
                        password=password, repeat=repeat, decode=decode, vllm_python=vllm_python)
    result = run_bench(opts)
    if json_out:
        typer.echo(bench_json(result))
    else:
        print_bench_table(result)
    return 0


COMMAND = ("bench", bench, "Measure generation speed: the cookbook way against vlparse's batched fast path.",
           ("Examples: vlparse bench --model ./tiny --new-tokens 32 --batch-size 16 --json | "
            "vlparse bench --random-weights qwen2.5-vl-7b --new-tokens 256 --batch-size 1 --batch-size 16 | "
            "vlparse bench --random-weights qwen3-vl-8b --check"))
