"""Option types shared by the commands (one definition, same help everywhere)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

M = "Model"
B = "Pixel budget and pages"
R = "Run"
S = "Server backend"

Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Hub id or local directory of a Qwen VL checkpoint "
                                              "[default: $VLPARSE_MODEL or Qwen/Qwen2.5-VL-7B-Instruct].",
                                              rich_help_panel=M)]
Family = Annotated[Optional[str], typer.Option("--family", help="qwen-vl | qwen2-vl | qwen2.5-vl | qwen3-vl (default: "
                                               "from the model's config).", rich_help_panel=M)]
Dtype = Annotated[str, typer.Option("--dtype", help="auto | bf16 | fp16 | fp32.", rich_help_panel=M)]
Quant = Annotated[str, typer.Option("--quant", help="none | 8bit | 4bit (bitsandbytes; vision tower kept unquantised).",
                                    rich_help_panel=M)]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N.", rich_help_panel=M)]
Attn = Annotated[str, typer.Option("--attn", help="sdpa | flash_attention_2 | eager.", rich_help_panel=M)]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Pages per model batch (default: from "
                                                  "free GPU memory; 4 on CPU).", rich_help_panel=M)]
Backend = Annotated[str, typer.Option("--backend", help="local (transformers) | openai (vLLM / SGLang server).",
                                      rich_help_panel=S)]
BaseUrl = Annotated[Optional[list[str]], typer.Option("--base-url", help="Server URL, e.g. http://127.0.0.1:8000/v1 "
                                                      "(repeat for several servers).", rich_help_panel=S)]
ApiKey = Annotated[Optional[str], typer.Option("--api-key", envvar="VLPARSE_API_KEY", help="Bearer token for the server.",
                                               rich_help_panel=S, show_envvar=True)]
ApiModel = Annotated[Optional[str], typer.Option("--api-model", help="Served model name (default: the only one served).",
                                                 rich_help_panel=S)]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, help="In-flight requests per server.",
                                          rich_help_panel=S)]
Timeout = Annotated[float, typer.Option("--timeout", min=1, help="Seconds per server request.", rich_help_panel=S)]
FromOutput = Annotated[Optional[str], typer.Option("--from-output", help="Skip the model: take raw answers from FILE, "
                                                   "DIR or - (needs --family).", rich_help_panel=M)]
MaxPixels = Annotated[Optional[int], typer.Option("--max-pixels", min=1, help="Pixel budget of the image the model sees "
                                                  "(default per family and task).", rich_help_panel=B)]
MinPixels = Annotated[Optional[int], typer.Option("--min-pixels", min=1, help="Lower pixel bound (default per family).",
                                                  rich_help_panel=B)]
Dpi = Annotated[Optional[float], typer.Option("--dpi", min=1, help="Upper bound on the PDF rendering resolution.",
                                              rich_help_panel=B)]
Password = Annotated[Optional[str], typer.Option("--password", help="Password of encrypted PDFs.", rich_help_panel=B)]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into directories given as inputs.",
                                         rich_help_panel=R)]
Retries = Annotated[int, typer.Option("--retries", min=0, help="Extra attempts for truncated or looping answers.",
                                      rich_help_panel=R)]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed input or page.", rich_help_panel=R)]
Force = Annotated[bool, typer.Option("--force", help="Redo pages an earlier run of -o DIR already finished.",
                                     rich_help_panel=R)]
Jsonl = Annotated[bool, typer.Option("--jsonl", help="One JSON line per page on stdout as soon as it is done.",
                                     rich_help_panel=R)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.", rich_help_panel=R)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.", rich_help_panel=R)]
PromptFile = Annotated[Optional[str], typer.Option("--prompt-file", help="Override the prompt (TOML with user/system, "
                                                   "or plain text).", rich_help_panel=M)]
