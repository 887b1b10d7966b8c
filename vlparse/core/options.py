"""Choices, defaults and the options objects that the library, the API and the CLI share.

One home for each default
-------------------------
Every default a run depends on is a constant here (pixel budgets excepted: they are per family and live
in :mod:`vlparse.core.families`, as ``Family.default_max_pixels(task)`` / ``default_min_pixels()``). The
options dataclasses below use these constants, the Python API (:mod:`vlparse.api`) uses the dataclasses,
and the CLI builds its options from the same dataclasses, so the CLI and the library cannot disagree.

Choices are :class:`Choice` enums (``str`` valued: ``Dtype.BF16 == "bf16"``); Typer validates them and
lists them in ``--help``.

Adding an option that ``doc`` and ``ground`` share
--------------------------------------------------
Add ONE field to :class:`BackendOptions` (how answers are produced) or :class:`RunOptions` (how pages are
prepared and the run goes), with ``metadata=cli("--flag", help=..., panel=...)``. The command modules turn
every field that carries :func:`cli` metadata into a Typer option of both commands
(``vlparse.commands._options.shared_options``) and fill the dataclass from it; the API takes the same
name as a keyword argument. A field without :func:`cli` metadata is library-only (or declared by each
command itself, as ``pages`` whose help differs).

Options objects are keyword-only dataclasses: ``BackendOptions(model="...", family="qwen2.5-vl")``.

This module is pure (no I/O at import or use, no torch): part of the core layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Choice(str, Enum):
    """A string-valued choice: compares equal to its value and prints as it."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)

    def __hash__(self) -> int:  # as its value's, so ``{"bf16": ...}[Dtype.BF16]`` finds it (Enum hashes the name)
        return hash(self.value)

    @classmethod
    def _missing_(cls, value: object) -> Choice | None:
        """Any case and surrounding spaces, as devices and families: ``Dtype("BF16") is Dtype.BF16``."""
        if isinstance(value, str):
            wanted = value.strip().lower()
            for member in cls:
                if member.value == wanted:
                    return member
        return None

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class BackendKind(Choice):
    """What produces the answers."""

    LOCAL = "local"  # transformers on this machine
    OPENAI = "openai"  # an OpenAI-compatible server (vLLM, SGLang)
    VLLM = "vllm"  # vLLM's offline engine in this process


class Dtype(Choice):
    AUTO = "auto"
    BF16 = "bf16"
    FP16 = "fp16"
    FP32 = "fp32"


class Quant(Choice):
    NONE = "none"
    INT8 = "8bit"
    INT4 = "4bit"


class Attn(Choice):
    SDPA = "sdpa"
    FLASH_ATTENTION_2 = "flash_attention_2"
    EAGER = "eager"


class DeviceKind(Choice):
    """Device kinds; ``cuda:N`` (a GPU by index) is accepted wherever a device is: see :func:`parse_device`."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class AnswerFormat(Choice):
    """What ``doc`` asks the model to write."""

    HTML = "html"  # QwenVL HTML: every block carries data-bbox (Qwen2.5-VL, Qwen3-VL)
    QWENVL_MARKDOWN = "qwenvl-markdown"  # QwenVL Markdown: only tables and images carry coordinates (Qwen3-VL)


class TaskKind(Choice):
    DOC = "doc"  # QwenVL HTML document parsing
    GROUND = "ground"  # boxes for text queries
    POINTS = "points"  # points for text queries
    EXTRACT = "extract"  # the fields of a schema, each value with its evidence box


class DateOrder(Choice):
    """How ``extract`` reads numeric dates whose day and month could be swapped (``03/04/2024``)."""

    DMY = "dmy"
    MDY = "mdy"


#: how ``--help`` and errors name the accepted devices
DEVICE_CHOICES = (*DeviceKind.values(), "cuda:N")


def parse_device(value: str) -> str:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (N a GPU index), normalised; ValueError otherwise.

    Examples:
        >>> parse_device("CUDA:1")
        'cuda:1'
    """
    v = str(value).strip().lower()
    if v in DeviceKind.values():
        return v
    kind, sep, index = v.partition(":")
    if kind == DeviceKind.CUDA and sep and index.isdigit():
        return f"cuda:{int(index)}"
    raise ValueError(f"device must be one of {' | '.join(DEVICE_CHOICES)} (got '{value}')")


# -- defaults (the one home of each) ---------------------------------------------------------------
#: token limit per answer, per task
MAX_NEW_TOKENS: dict[TaskKind, int] = {TaskKind.DOC: 8192, TaskKind.GROUND: 2048, TaskKind.POINTS: 2048,
                                       TaskKind.EXTRACT: 4096}
#: the smallest --max-new-tokens accepted
MIN_NEW_TOKENS = 16
#: in-flight requests per server (openai backend)
CONCURRENCY = 4
#: seconds per server request
TIMEOUT = 600.0
#: vlparse's own decode loop (vlparse.backends.fastgen) where it applies: on in the CLI and the library
FAST_DECODING = True
#: extra attempts for truncated or looping answers
RETRIES = 1
BACKEND = BackendKind.LOCAL
DTYPE = Dtype.AUTO
QUANT = Quant.NONE
ATTN = Attn.SDPA
DEVICE = DeviceKind.AUTO.value


def default_max_new_tokens(task: str) -> int:
    """The token limit of ``task`` (doc, ground, points)."""
    return MAX_NEW_TOKENS[TaskKind(task)]


# -- CLI metadata ----------------------------------------------------------------------------------
PANEL_MODEL = "Model"
PANEL_BUDGET = "Pixel budget and pages"
PANEL_RUN = "Run"
PANEL_SERVER = "Server backend"
PANEL_RAY = "Ray (distributed runs)"


def cli(*flags: str, help: str, panel: str = PANEL_RUN, **extra: Any) -> dict[str, Any]:  # noqa: A002
    """Field metadata that makes a field a command-line option of ``doc`` and ``ground``.

    ``extra``: more ``typer.Option`` keywords (``min=``, ``envvar=``, ``show_envvar=``...), plus
    ``kind="device"`` for the device parser.
    """
    return {"cli": {"flags": flags, "help": help, "panel": panel, **extra}}


def _check_bounds(options: Any) -> None:
    """The bounds the CLI enforces (``min=`` of a field's :func:`cli` metadata) hold for library callers too.

    None given for a field whose default is not None means that default (``device=None``, ``concurrency=None``).
    """
    from dataclasses import MISSING, fields

    from vlparse.core.errors import UsageError

    for f in fields(options):
        if getattr(options, f.name) is None:
            if f.default is not MISSING:
                setattr(options, f.name, f.default)
            elif f.default_factory is not MISSING:
                setattr(options, f.name, f.default_factory())
        value = getattr(options, f.name)
        if value is not None and f.type in ("str", "str | None"):
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
                setattr(options, f.name, value)
            if not isinstance(value, str):
                raise UsageError(f"{f.name} must be a string (got {value!r})")
        elif f.type == "bool" and not isinstance(value, bool):
            raise UsageError(f"{f.name} must be True or False (got {value!r})")
        elif f.type == "list[str]" and value is not None and (
                not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value)):
            raise UsageError(f"{f.name} must be a list of strings (got {value!r})")
        elif f.type in ("int", "int | None") and isinstance(value, float):  # max_pixels=2e6 is 2000000
            if not value.is_integer():
                raise UsageError(f"{f.name} must be a whole number (got {value!r})")
            value = int(value)
            setattr(options, f.name, value)
        low = f.metadata.get("cli", {}).get("min")
        if low is None or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{f.name} must be a number (got {value!r})")
        if value < low:
            raise UsageError(f"{f.name} must be at least {low} (got {value!r})")


@dataclass(kw_only=True)
class BackendOptions:
    """How answers are produced: the model and where it runs (a local model, a server, recorded answers)."""

    backend: BackendKind = field(default=BACKEND, metadata=cli(
        "--backend", help="local (transformers) | openai (vLLM / SGLang server) | vllm (vLLM in-process).",
        panel=PANEL_SERVER))
    model: str | None = field(default=None, metadata=cli(
        "--model", "-m", help="Hub id or local directory of a Qwen VL checkpoint (default: $VLPARSE_MODEL or "
        "Qwen/Qwen2.5-VL-7B-Instruct).", panel=PANEL_MODEL))
    family: str | None = field(default=None, metadata=cli(
        "--family", help="qwen-vl | qwen2-vl | qwen2.5-vl | qwen3-vl (default: from the model's config).",
        panel=PANEL_MODEL))
    dtype: Dtype = field(default=DTYPE, metadata=cli("--dtype", help="Weights' precision.", panel=PANEL_MODEL))
    quant: Quant = field(default=QUANT, metadata=cli(
        "--quant", help="bitsandbytes quantisation (vision tower kept unquantised).", panel=PANEL_MODEL))
    device: str = field(default=DEVICE, metadata=cli(
        "--device", help="auto | cpu | cuda | cuda:N (N: the GPU's index, e.g. cuda:1).", panel=PANEL_MODEL,
        kind="device"))
    attn: Attn = field(default=ATTN, metadata=cli("--attn", help="Attention implementation.", panel=PANEL_MODEL))
    batch_size: int | None = field(default=None, metadata=cli(
        "--batch-size", help="Pages per model batch (default: from free GPU memory; 4 on CPU).", panel=PANEL_MODEL,
        min=1))
    fast: bool = FAST_DECODING  # library-only: the CLI always uses the default
    base_urls: list[str] = field(default_factory=list, metadata=cli(
        "--base-url", help="Server URL, e.g. http://127.0.0.1:8000/v1 (repeat for several servers).",
        panel=PANEL_SERVER))
    api_key: str | None = field(default=None, metadata=cli(
        "--api-key", help="Bearer token for the server.", panel=PANEL_SERVER, envvar="VLPARSE_API_KEY",
        show_envvar=True))
    api_model: str | None = field(default=None, metadata=cli(
        "--api-model", help="Served model name (default: the only one served).", panel=PANEL_SERVER))
    concurrency: int = field(default=CONCURRENCY, metadata=cli(
        "--concurrency", help="In-flight requests per server.", panel=PANEL_SERVER, min=1))
    timeout: float = field(default=TIMEOUT, metadata=cli(
        "--timeout", help="Seconds per server request.", panel=PANEL_SERVER, min=1))
    from_output: str | None = field(default=None, metadata=cli(
        "--from-output", help="Skip the model: take raw answers from FILE, DIR or - (needs --family).",
        panel=PANEL_MODEL))
    tensor_parallel_size: int = field(default=1, metadata=cli(
        "--tensor-parallel", help="--backend vllm: GPUs to split the model across (vLLM's tensor_parallel_size).",
        panel=PANEL_MODEL, min=1))

    def __post_init__(self) -> None:
        from vlparse.core.errors import UsageError

        _check_bounds(self)  # first: None means the default
        for name, kind in (("backend", BackendKind), ("dtype", Dtype), ("quant", Quant), ("attn", Attn)):
            value = getattr(self, name)
            try:
                setattr(self, name, kind(value))
            except ValueError:
                raise UsageError(f"{name} must be one of {' | '.join(kind.values())} (got '{value}')") from None
        try:
            self.device = parse_device(self.device)
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.base_urls = list(self.base_urls or [])

    @property
    def run_model(self) -> str:
        """What answers this run, as recorded in results and in the resume fingerprint."""
        if self.from_output is not None:
            return "recorded"
        if self.backend == BackendKind.OPENAI:
            return self.api_model or self.model or "served"
        return self.model_name

    @property
    def model_name(self) -> str:
        """The local model: ``model``, else ``$VLPARSE_MODEL``, else the default."""
        import os

        from vlparse.core.families import DEFAULT_MODEL

        return self.model or os.environ.get("VLPARSE_MODEL") or DEFAULT_MODEL


@dataclass(kw_only=True)
class RunOptions:
    """How pages are prepared and how a run goes (shared by ``doc`` and ``ground``)."""

    inputs: list[str] = field(default_factory=list)
    backend: BackendOptions = field(default_factory=BackendOptions)
    output: str | None = None
    pages: str | None = None
    max_new_tokens: int | None = field(default=None, metadata=cli(
        "--max-new-tokens", help=f"Token limit per answer (default: {MAX_NEW_TOKENS[TaskKind.DOC]} for doc, "
        f"{MAX_NEW_TOKENS[TaskKind.GROUND]} for ground, {MAX_NEW_TOKENS[TaskKind.EXTRACT]} for extract).",
        panel=PANEL_MODEL, min=MIN_NEW_TOKENS))
    max_pixels: int | None = field(default=None, metadata=cli(
        "--max-pixels", help="Pixel budget of the image the model sees (default per family and task).",
        panel=PANEL_BUDGET, min=1))
    min_pixels: int | None = field(default=None, metadata=cli(
        "--min-pixels", help="Lower pixel bound (default per family).", panel=PANEL_BUDGET, min=1))
    dpi: float | None = field(default=None, metadata=cli(
        "--dpi", help="Upper bound on the PDF rendering resolution.", panel=PANEL_BUDGET, min=1))
    password: str | None = field(default=None, metadata=cli(
        "--password", help="Password of encrypted PDFs.", panel=PANEL_BUDGET))
    recursive: bool = field(default=False, metadata=cli(
        "--recursive", "-r", help="Descend into directories given as inputs."))
    retries: int = field(default=RETRIES, metadata=cli(
        "--retries", help="Extra attempts for truncated or looping answers.", min=0))
    fail_fast: bool = field(default=False, metadata=cli(
        "--fail-fast", help="Stop at the first failed input or page."))
    force: bool = field(default=False, metadata=cli(
        "--force", help="Redo pages an earlier run of -o DIR already finished."))
    jsonl: bool = field(default=False, metadata=cli(
        "--jsonl", help="One JSON line per page on stdout as soon as it is done."))
    wait: bool = field(default=False, metadata=cli(
        "--wait", help="If another run is using -o DIR, wait for it instead of stopping."))
    quiet: bool = field(default=False, metadata=cli("--quiet", "-q", help="Only errors on stderr."))
    verbose: bool = field(default=False, metadata=cli("--verbose", "-v", help="More detail on stderr."))
    prompt_file: str | None = field(default=None, metadata=cli(
        "--prompt-file", help="Override the prompt (TOML with user/system, or plain text).", panel=PANEL_MODEL))
    skip_failed: bool = field(default=False, metadata=cli(
        "--skip-failed", help="On a rerun of -o DIR, keep pages recorded as failed instead of retrying them."))
    ray: str | None = field(default=None, metadata=cli(
        "--ray", help="Run as a Ray Data job: 'local' starts a Ray for the run; 'auto', HOST:PORT or ray://HOST:PORT "
        "joins a cluster. Inputs and -o may then be fsspec URLs (s3://…, gs://…).", panel=PANEL_RAY,
        metavar="ADDRESS"))
    ray_workers: int = field(default=1, metadata=cli(
        "--ray-workers", help="Model workers (actors) with --ray: one model per GPU worker, or one client of the "
        "--base-url servers each.", panel=PANEL_RAY, min=1))

    def __post_init__(self) -> None:
        from vlparse.core.errors import UsageError

        if isinstance(self.pages, int) and not isinstance(self.pages, bool):
            self.pages = str(self.pages)  # pages=3
        elif self.pages is not None and not isinstance(self.pages, str):
            raise UsageError(f"pages must be a selection such as '1-3,7' (got {self.pages!r})")
        _check_bounds(self)

    def tokens_for(self, task: str) -> int:
        """``max_new_tokens``, or the task's default."""
        return self.max_new_tokens if self.max_new_tokens is not None else default_max_new_tokens(task)


@dataclass(kw_only=True)
class DocOptions(RunOptions):
    """``vlparse doc``: the exports to write."""

    formats: list[str] = field(default_factory=list)
    overlay_dir: str | None = None
    answer_format: AnswerFormat = AnswerFormat.HTML
    snap_boxes: bool = False  # tighten blocks verified against the PDF's text layer to its words (parse/verify.py)
    #: ``--chunks``: the chunks' token limit (None: vlparse.export.chunks.DEFAULT_MAX_TOKENS)
    chunk_tokens: int | None = None


@dataclass(kw_only=True)
class GroundOptions(RunOptions):
    """``vlparse ground``: the queries and where the detections go."""

    queries: list[str] = field(default_factory=list)
    points: bool = False
    json_lines: bool | None = None  # None: JSON lines unless stdout is a terminal
    coco: str | None = None
    overlay_dir: str | None = None


@dataclass(kw_only=True)
class ExtractOptions(RunOptions):
    """``vlparse extract``: the schema, how dates are read, and where the records go."""

    schema: Any = None  # a JSON Schema dict, a Pydantic model class, or vlparse.parse.extract.ExtractSchema (API)
    schema_file: str | None = None  # --schema FILE (a JSON Schema)
    fields: list[str] = field(default_factory=list)  # --field NAME[:TYPE]
    date_order: DateOrder = DateOrder.DMY
    formats: list[str] = field(default_factory=list)  # "json" (files with -o), "review"
    overlay_dir: str | None = None
    csv: str | None = None  # --csv FILE: one row per document
