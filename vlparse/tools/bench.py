"""``vlparse bench``: the cookbook way against vlparse's local path, same model, same pages, one process.

(a) cookbook: one page at a time, processor + ``model.generate`` (dynamic cache), as in the Qwen
    cookbooks; (b) vlparse: pages batched and left-padded by the local backend (``build_inputs``),
    then :func:`vlparse.backends.fastgen.fast_generate`, at each ``--batch-size``. The output length
    is forced (EOS ignored) so both paths produce the same number of tokens.

Figures per run (``DEFINITIONS`` is printed into the JSON): pages/s over render + model time, output
tokens/s over model time (inputs + generation + text decoding; rendering is the same for both paths
and reported as its share), ms per decode step (decode time / forward passes after the prefill),
prefill s/page (inputs + vision tower + prompt, up to the first token), peak GPU memory.

Speed does not depend on weight values: ``--random-weights ARCH`` builds the released architecture
(vlparse/data/architectures.json) with random weights, so a 7B figure needs no download. On the CPU
such sizes are refused (``--check`` still builds the architecture on the meta device and compares its
parameter count with the published one).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlparse.run import console
from vlparse.core.errors import ModelError, UsageError
from vlparse.core.families import Family, get_family
from vlparse.core.geometry import Budget

DEFINITIONS = {
    "pages_per_s": "pages / (render time + model time)",
    "output_tok_per_s": "generated tokens / model time (inputs, generation and text decoding; rendering excluded)",
    "ms_per_decode_step": "decode time / decode forward passes (the passes after the prefill; a pass serves a batch)",
    "decode_tok_per_s": "tokens produced by decode passes / decode time (prefill excluded: the rate long answers approach)",
    "prefill_s_per_page": "time to the first token (processor, vision tower, prompt) / pages",
    "peak_gpu_mem_gib": "torch.cuda.max_memory_allocated during the run (null on the CPU)",
    "weights_gib": "the loaded model's parameters and buffers (model.get_memory_footprint())",
    "render_share": "render time / (render time + model time)",
    "speedup": "output_tok_per_s / the cookbook run's (same quantisation)",
}
#: CPU default page budget in visual tokens: keeps a tiny checkpoint's prefill a small share of the work, as a
#: 7B model's is on a GPU (~0.1 s of prefill against ~2 s for 32 tokens at 66 ms per step)
CPU_PAGE_TOKENS = 64


@dataclass(kw_only=True)
class BenchOptions:
    model: str | None = None
    random_weights: str | None = None
    check: bool = False
    pdf: str | None = None
    pages: str | None = None  # page selection of --pdf
    page_count: int | None = None  # synthetic document length (default: the largest batch size)
    new_tokens: int = 128
    batch_sizes: list[int] = field(default_factory=lambda: [1, 4, 16])
    quants: list[str] = field(default_factory=lambda: ["none"])
    dtype: str = "auto"
    device: str = "auto"
    attn: str = "sdpa"
    max_pixels: int | None = None
    password: str | None = None
    repeat: int = 3  # runs per measurement; the fastest counts (interference only ever slows a run)
    decode: str = "auto"  # fast_generate's mode: auto | eager | static | graph
    #: the python of an environment with vLLM: adds the vLLM offline engine's path (a subprocess, same pages)
    vllm_python: str | None = None


@dataclass
class Run:
    path: str  # "cookbook" | "vlparse" | "vllm"
    quant: str
    batch_size: int
    pages: int
    new_tokens: int  # generated tokens, all pages
    render_s: float
    model_s: float
    prefill_s: float | None  # None: not measured (the vLLM path times the whole generate call)
    decode_s: float
    decode_steps: int
    peak_gpu_mem_gib: float | None
    weights_gib: float  # the loaded model's parameters and buffers
    decode_mode: str
    speedup: float | None = None

    @property
    def output_tok_per_s(self) -> float:
        return self.new_tokens / self.model_s

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        total = self.render_s + self.model_s
        decoded = self.new_tokens - self.pages  # the first token of each page comes from the prefill
        d.update(pages_per_s=self.pages / total, output_tok_per_s=self.output_tok_per_s,
                 decode_tok_per_s=decoded / self.decode_s if self.decode_s else None,
                 ms_per_decode_step=1e3 * self.decode_s / self.decode_steps if self.decode_steps else None,
                 prefill_s_per_page=self.prefill_s / self.pages if self.prefill_s is not None else None,
                 render_share=self.render_s / total)
        return d


# -- architectures ----------------------------------------------------------------------------------------
def _arch(name: str) -> dict[str, Any]:
    from vlparse.tools.synthetic import architectures

    archs = architectures()
    if name not in archs:
        raise UsageError(f"--random-weights {name}: unknown architecture (known: {', '.join(archs)})")
    return archs[name]


def parameter_check(name: str) -> dict[str, Any]:
    """Build ``name`` on the meta device (no memory) and compare its parameter count with the published one."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vlparse.tools.synthetic import make_config

    spec = _arch(name)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(make_config(spec))
    n = sum(p.numel() for p in model.parameters())
    published = spec.get("published_params")
    return {"architecture": name, "family": spec["family"], "class": type(model).__name__, "params": n,
            "params_b": f"{n / 1e9:.2f}B", "published_params": published, "match": f"{n / 1e9:.2f}B" == published}


def random_backend(name: str, opts: BenchOptions, quant: str, workdir: Path):
    """A local backend around a random-weight model of architecture ``name`` (real vocabulary size)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vlparse.backends.local import LoadOptions, LocalBackend, _torch_dtype, resolve_device
    from vlparse.tools.synthetic import build_tokenizer, make_config, make_processor

    spec = _arch(name)
    fam = get_family(spec["family"])
    device = resolve_device(opts.device)
    dtype = _torch_dtype(opts.dtype, device)
    tokenizer = build_tokenizer(fam)
    cfg = make_config(spec, tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=dtype, attn_implementation=opts.attn)
    model.generation_config.eos_token_id = cfg.text_config.eos_token_id
    model.generation_config.pad_token_id = cfg.text_config.pad_token_id
    processor = make_processor(fam, tokenizer)
    if quant == "none":
        return adopt(model.eval(), processor, fam, device, dtype, name)
    # bitsandbytes quantises while loading: write the checkpoint once, load it the way users do
    ckpt = workdir / name
    if not (ckpt / "config.json").exists():
        model.save_pretrained(ckpt)
        processor.save_pretrained(ckpt)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return LocalBackend(LoadOptions(model=str(ckpt), dtype=opts.dtype, quant=quant, device=opts.device, attn=opts.attn,
                                    fast=True))


def adopt(model, processor, family: Family, device: str, dtype, name: str):
    """A LocalBackend around a model built in this process (its batching, inputs and decoding as is)."""
    from vlparse.backends.local import LocalBackend

    return LocalBackend.from_loaded(model, processor, family, device, dtype, f"random-weights:{name}", batch_size=1)


# -- pages --------------------------------------------------------------------------------------------------
_TEXT = ("Quarterly results. Revenue grew in every region; operating costs fell as the new plant came on line. "
         "The board proposes a dividend of 1.20 per share. ")


def synthetic_pdf(path: Path, pages: int) -> Path:
    """A text document of A4 pages: a heading, paragraphs and a small table per page."""
    import pymupdf

    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((56, 80), f"Section {i + 1}: Annual report", fontsize=20)
        page.insert_textbox(pymupdf.Rect(56, 110, 539, 420), _TEXT * 5, fontsize=10)
        for r in range(6):
            y = 450 + 24 * r
            page.draw_line((56, y), (539, y))
            for c, x in enumerate((60, 220, 380)):
                page.insert_text((x, y + 16), f"{'Item' if r == 0 else r * (c + 1) * 17.5:>8}", fontsize=10)
        page.insert_text((290, 810), str(i + 1), fontsize=9)
    doc.save(str(path))
    doc.close()
    return path


def default_budget(family: Family, device: str, max_pixels: int | None) -> Budget:
    if max_pixels is None:
        max_pixels = family.default_max_pixels("doc") if device.startswith("cuda") else \
            CPU_PAGE_TOKENS * family.factor**2
    # a lower bound well under the upper one: at min == max the processor's rounding can overshoot the budget
    return Budget(min(family.default_min_pixels(), max_pixels // 4), max_pixels)


def bench_prompt(family: Family):
    """The family's document-parsing prompt; for families without one (Qwen2-VL), its grounding prompt."""
    from vlparse.run.prompts import fill_queries, load_prompt

    if family.html:
        return load_prompt(family, "doc")
    return fill_queries(load_prompt(family, "ground"), ["text block", "table", "figure"])


def render_pages(path: str, numbers: list[int] | None, family: Family, budget: Budget,
                 password: str | None) -> tuple[list, float]:
    """(page images at the model's native size, render seconds)."""
    from vlparse.pages.render import open_source

    t0 = time.perf_counter()
    with open_source(path, password=password) as src:
        selected = numbers or list(range(1, src.page_count + 1))
        images = [src.page(n, family, budget).image for n in selected]
    return images, time.perf_counter() - t0


# -- the two paths ------------------------------------------------------------------------------------------
def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def _requests(images, prompt, budget: Budget, new_tokens: int):
    from vlparse.backends.base import Request

    return [Request(f"page{i + 1}", img, prompt, new_tokens, min_pixels=budget.min_pixels,
                    max_pixels=budget.max_pixels) for i, img in enumerate(images)]


class _StepClock:
    """A logits processor that only notes the time: generate calls it once per generated token."""

    def __init__(self, device: str):
        self.device, self.times = device, []

    def __call__(self, input_ids, scores):
        _sync(self.device)
        self.times.append(time.perf_counter())
        return scores


def cookbook(backend, requests, new_tokens: int) -> dict[str, float]:
    """One page at a time: processor, ``generate`` (dynamic cache, greedy, EOS ignored), decode."""
    import torch
    from transformers import LogitsProcessorList

    model, dev = backend.model, backend.device
    tot = {"model_s": 0.0, "prefill_s": 0.0, "decode_s": 0.0, "steps": 0, "tokens": 0}
    for r in requests:
        clock = _StepClock(dev)
        t0 = time.perf_counter()
        inputs = backend.inputs.by_processor([r]).to(model.device)  # the cookbook's processor call
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, eos_token_id=[],
                                 pad_token_id=backend.pad_id, temperature=None, top_p=None, top_k=None,
                                 repetition_penalty=1.0, logits_processor=LogitsProcessorList([clock]))
        row = out[0, inputs["input_ids"].shape[1]:].cpu()
        backend.decode(row)
        tot["model_s"] += time.perf_counter() - t0
        tot["prefill_s"] += clock.times[0] - t0
        tot["decode_s"] += clock.times[-1] - clock.times[0]
        tot["steps"] += len(clock.times) - 1
        tot["tokens"] += int(row.numel())
    return tot


def vlparse_path(backend, requests, new_tokens: int, batch_size: int, mode: str = "auto") -> dict[str, Any]:
    """The local backend's batches (left-padded inputs) through fast_generate, EOS ignored."""
    from vlparse.backends.fastgen import fast_generate

    tot: dict[str, Any] = {"model_s": 0.0, "prefill_s": 0.0, "decode_s": 0.0, "steps": 0, "tokens": 0, "mode": ""}
    for i in range(0, len(requests), batch_size):
        chunk = requests[i:i + batch_size]
        t0 = time.perf_counter()
        inputs = backend.build_inputs(chunk).to(backend.model.device)
        t_in = time.perf_counter() - t0
        st: dict[str, Any] = {}
        seqs = fast_generate(backend.model, inputs, max_new_tokens=new_tokens, eos_ids=backend.eos_ids,
                             pad_id=backend.pad_id, ignore_eos=True, mode=mode, stats=st)
        for row in seqs.cpu():
            backend.decode(row)
            tot["tokens"] += int(row.numel())
        tot["model_s"] += time.perf_counter() - t0
        tot["prefill_s"] += t_in + (st["prefill_s"] or 0.0)
        tot["decode_s"] += st["decode_s"]
        tot["steps"] += st["steps"]
        tot["mode"] = st["mode"]
    return tot


# -- the bench ----------------------------------------------------------------------------------------------
def _load(opts: BenchOptions, quant: str, workdir: Path):
    from vlparse.backends.local import LoadOptions, LocalBackend, resolve_device

    if opts.random_weights and opts.model:
        raise UsageError("give either --model or --random-weights, not both")
    if opts.random_weights:
        info = parameter_check(opts.random_weights)
        if not resolve_device(opts.device).startswith("cuda"):
            raise ModelError(
                f"--random-weights {opts.random_weights} ({info['params_b']} parameters; published "
                f"{info['published_params']}) is benchmarked on a CUDA GPU only, and this machine has none: check the "
                "architecture here with --check, or benchmark a tiny checkpoint with --model DIR")
        return random_backend(opts.random_weights, opts, quant, workdir)
    if not opts.model:
        raise UsageError("give --model DIR (a checkpoint) or --random-weights ARCH (e.g. qwen2.5-vl-7b)")
    return LocalBackend(LoadOptions(model=opts.model, dtype=opts.dtype, quant=quant, device=opts.device, attn=opts.attn,
                                    fast=True))


def _environment(backend) -> dict[str, Any]:
    import torch
    import transformers

    dev = backend.device
    name = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": dev, "device_name": name, "dtype": str(backend.dtype).replace("torch.", ""),
            "torch": torch.__version__, "transformers": transformers.__version__}


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Measure both paths; the result dictionary is what ``--json`` prints."""
    from vlparse.pages.render import parse_page_selection

    if opts.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if opts.new_tokens < 2:
        raise UsageError("--new-tokens must be at least 2 (one prefill token, then decode steps)")
    if any(b < 1 for b in opts.batch_sizes):
        raise UsageError("--batch-size must be at least 1")
    from vlparse.backends.fastgen import MODES

    if opts.decode not in MODES:
        raise UsageError(f"--decode must be one of {', '.join(MODES)} (got '{opts.decode}')")
    if opts.decode == "graph" and not _cuda():
        raise UsageError("--decode graph needs a CUDA GPU")
    for q in opts.quants:
        if q not in ("none", "8bit", "4bit"):
            raise UsageError(f"--quant must be none, 8bit or 4bit (got '{q}')")
    if opts.vllm_python and not opts.model:
        raise UsageError("--vllm-python needs --model (a checkpoint directory vLLM can load)")
    if opts.check:
        if not opts.random_weights:
            raise UsageError("--check needs --random-weights ARCH")
        return {"check": parameter_check(opts.random_weights)}
    result: dict[str, Any] = {"definitions": DEFINITIONS, "runs": []}
    with tempfile.TemporaryDirectory(prefix="vlparse-bench-") as tmp, _quiet_bitsandbytes():
        workdir = Path(tmp)
        pages = None
        baseline: dict[str, Run] = {}
        for quant in opts.quants:
            backend = _load(opts, quant, workdir)
            try:
                fam = backend.family
                if pages is None:  # the same pages for every quantisation
                    budget = default_budget(fam, backend.device, opts.max_pixels)
                    if opts.pdf:
                        from vlparse.pages.render import open_source

                        with open_source(opts.pdf, password=opts.password) as src:
                            numbers = parse_page_selection(opts.pages, src.page_count)
                        source = opts.pdf
                    else:
                        count = opts.page_count or max(opts.batch_sizes)
                        source = str(synthetic_pdf(workdir / "synthetic.pdf", count))
                        numbers = None
                    images, render_s = render_pages(source, numbers, fam, budget, opts.password)
                    prompt = bench_prompt(fam)
                    pages = _requests(images, prompt, budget, opts.new_tokens)
                    w, h = images[0].size
                    result.update(model=backend.model_name, family=fam.name, **_environment(backend),
                                  document=opts.pdf or f"synthetic ({len(images)} A4 text pages)",
                                  pages=len(images), page_px=[w, h], visual_tokens=w * h // fam.factor**2,
                                  max_pixels=budget.max_pixels, new_tokens_per_page=opts.new_tokens,
                                  render_s_per_page=render_s / len(images))
                _warm_up(backend, pages, opts.batch_sizes, opts.decode)
                runs = _measure(backend, pages, opts, quant, render_s)
                baseline[quant] = runs[0]
                for r in runs:
                    r.speedup = r.output_tok_per_s / runs[0].output_tok_per_s
                    result["runs"].append(r.row())
            finally:
                backend.close()
                _free(backend.device)
        if opts.vllm_python and "none" in baseline:
            base = baseline["none"]
            run = vllm_path(opts, result, images, prompt, budget, render_s, workdir, base.weights_gib)
            run.speedup = run.output_tok_per_s / base.output_tok_per_s
            result["runs"].append(run.row())
    result["peak_rss_gib"] = _peak_rss_gib()
    return result


def vllm_path(opts: BenchOptions, result: dict[str, Any], images, prompt, budget: Budget, render_s: float,
              workdir: Path, weights_gib: float) -> Run:
    """The same pages through vLLM's offline engine, in a subprocess of ``opts.vllm_python``
    (:mod:`vlparse.tools.bench_vllm`): vLLM pins its own torch, so it usually lives in its own environment."""
    import subprocess

    pages_dir = workdir / "vllm-pages"
    pages_dir.mkdir(exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        paths.append(str(pages_dir / f"page{i + 1:04d}.png"))
        img.save(paths[-1])
    spec = {"model": result["model"], "family": result["family"], "pages": paths, "system": prompt.system,
            "user": prompt.user, "new_tokens": opts.new_tokens, "min_pixels": budget.min_pixels,
            "max_pixels": budget.max_pixels, "repeat": opts.repeat}
    (workdir / "vllm-spec.json").write_text(json.dumps(spec))
    try:
        proc = subprocess.run([opts.vllm_python, "-m", "vlparse.tools.bench_vllm", str(workdir / "vllm-spec.json")],
                              capture_output=True, text=True)
    except OSError as e:
        raise UsageError(f"--vllm-python {opts.vllm_python}: {e.strerror or e}") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.split()[-40:])
        raise ModelError(f"the vLLM path failed (exit {proc.returncode}): {tail}")
    v = json.loads(lines[-1])
    return Run("vllm", "none", v["pages"], v["pages"], v["tokens"], render_s, v["model_s"], None, 0.0, 0, None,
               weights_gib, v["mode"])


@contextmanager
def _quiet_bitsandbytes():
    """bitsandbytes logs a warning on every 8-bit matmul of a float32 model (inputs cast to float16)."""
    import logging

    log = logging.getLogger("bitsandbytes.autograd._functions")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _warm_up(backend, pages, batch_sizes: list[int], mode: str) -> None:
    """First calls pay one-off costs (allocator, kernel selection per shape, thread pools): not part of any
    figure. Each path and batch size gets one short untimed run."""
    cookbook(backend, pages[:1], 2)
    for bs in batch_sizes:
        vlparse_path(backend, pages[:bs], 2, bs, mode)


def _best(fn, repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs: interference from other work on the machine only ever slows a run down."""
    best = None
    for _ in range(repeat):
        t = fn()
        if best is None or t["model_s"] < best["model_s"]:
            best = t
    return best


def _measure(backend, pages, opts: BenchOptions, quant: str, render_s: float) -> list[Run]:
    dev = backend.device
    weights = backend.model.get_memory_footprint() / 2**30
    runs = []
    _reset_peak(dev)
    c = _best(lambda: cookbook(backend, pages, opts.new_tokens), opts.repeat)
    runs.append(Run("cookbook", quant, 1, len(pages), c["tokens"], render_s, c["model_s"], c["prefill_s"],
                    c["decode_s"], c["steps"], _peak(dev), weights, "generate"))
    for bs in opts.batch_sizes:
        _reset_peak(dev)
        v = _best(lambda bs=bs: vlparse_path(backend, pages, opts.new_tokens, bs, opts.decode), opts.repeat)
        runs.append(Run("vlparse", quant, bs, len(pages), v["tokens"], render_s, v["model_s"], v["prefill_s"],
                        v["decode_s"], v["steps"], _peak(dev), weights, v["mode"]))
        console.verbose(f"{quant} batch {bs}: {v['tokens'] / v['model_s']:.1f} tok/s")
    return runs


def _free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _peak_rss_gib() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# -- output -------------------------------------------------------------------------------------------------
def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if not con.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        con = Console(width=132)
    if "check" in result:
        c = result["check"]
        verdict = "matches" if c["match"] else "does NOT match"
        con.print(f"{c['architecture']} ({c['class']}): {c['params']:,} parameters = {c['params_b']}, "
                  f"{verdict} the published {c['published_params']}")
        return
    title = (f"vlparse bench: {result['model']} ({result['family']}, {result['dtype']}), {result['device_name']}\n"
             f"{result['pages']} pages of {result['page_px'][0]}x{result['page_px'][1]} px "
             f"({result['visual_tokens']} visual tokens), {result['new_tokens_per_page']} new tokens per page "
             "(EOS ignored)")
    t = Table(title=title, title_justify="left", caption="cookbook: one page at a time through generate; vlparse: "
              "batched fast path (decode mode); vllm: vLLM's offline engine, all pages in one generate call. tok/s over model time; pages/s include rendering.",
              caption_justify="left")
    for col in ("path", "quant", "batch", "pages/s", "tok/s", "ms/step", "prefill s/pg", "weights", "peak mem",
                "render", "speed-up"):
        t.add_column(col, justify="left" if col in ("path", "quant") else "right", no_wrap=True)
    for r in result["runs"]:
        mem = _gib(r["peak_gpu_mem_gib"]) if r["peak_gpu_mem_gib"] is not None else "n/a"
        step = f"{r['ms_per_decode_step']:.2f}" if r["ms_per_decode_step"] is not None else "-"
        prefill = f"{r['prefill_s_per_page']:.3f}" if r["prefill_s_per_page"] is not None else "-"
        path = "cookbook" if r["path"] == "cookbook" else f"{r['path']} ({r['decode_mode']})"
        t.add_row(path, r["quant"], str(r["batch_size"]), f"{r['pages_per_s']:.2f}", f"{r['output_tok_per_s']:.1f}",
                  step, prefill, _gib(r["weights_gib"]), mem, f"{100 * r['render_share']:.0f}%",
                  f"{r['speedup']:.1f}x")
    con.print(t)


def _gib(x: float) -> str:
    return f"{x:.1f} GiB" if x >= 1 else f"{x * 1024:.1f} MiB"


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
