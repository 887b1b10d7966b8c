"""The local backend: a Qwen VL checkpoint loaded with transformers on this machine.

Loading: ``AutoProcessor`` + ``AutoModelForImageTextToText`` (transformers 5.x), ``dtype=`` and
``device_map`` (accelerate) for placement, bitsandbytes 4/8-bit with the vision tower kept
unquantised, the attention implementation of the user's choice. Generation: batched, left-padded,
greedy unless a temperature is asked for; the processor gets the run's pixel budget as
``size={"shortest_edge", "longest_edge"}`` so it does not resample the page vlparse already rendered
at the model's native size (checked per image against ``image_grid_thw``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlparse.core.errors import ModelError, OutOfMemoryError, UsageError
from vlparse.core.families import Family, family_from_model_type, get_family
from vlparse.core.options import ATTN, DEVICE, DTYPE, FAST_DECODING, QUANT, Attn, Dtype, Quant
from vlparse.backends.base import Answer, Backend, Request

DTYPES = Dtype.values()
QUANTS = Quant.values()
ATTNS = Attn.values()
#: modules never quantised: the vision tower (small, precision-sensitive) and the output head.
#: transformers 5 matches these from the start of the module name ("model.visual.blocks.0..."); the bare
#: names cover checkpoints whose tower sits at the top level, as in transformers 4.
SKIP_QUANT_MODULES = ["model.visual", "visual", "lm_head"]


@dataclass(kw_only=True)
class LoadOptions:
    model: str
    family: str | None = None
    dtype: str = DTYPE
    quant: str = QUANT
    device: str = DEVICE  # auto | cpu | cuda | cuda:N
    attn: str = ATTN
    batch_size: int | None = None
    fast: bool = FAST_DECODING  # vlparse's own decode loop (see vlparse.backends.fastgen) where it applies


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or os.sep in model.strip("/").split("/", 1)[-1] or Path(model).exists()


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"--device {device}: no CUDA GPU is available on this machine (use --device cpu)")
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise ModelError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    if device == "cpu":
        return device
    raise UsageError(f"--device must be auto, cpu, cuda or cuda:N (got '{device}')")


def quantization_config(quant: str, compute_dtype):
    if quant == "none":
        return None
    if quant not in QUANTS:
        raise UsageError(f"--quant must be one of {', '.join(QUANTS)} (got '{quant}')")
    try:
        import bitsandbytes  # noqa: F401
    except Exception as e:  # missing or broken install
        raise ModelError(f"--quant {quant} needs bitsandbytes, which cannot be imported ({type(e).__name__}: {e}); "
                         "install it with: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=list(SKIP_QUANT_MODULES))
    import torch

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype if compute_dtype != torch.float32 else torch.bfloat16,
        llm_int8_skip_modules=list(SKIP_QUANT_MODULES),
    )


def _not_found(model: str, err: Exception) -> ModelError:
    if _looks_like_path(model):
        p = Path(model).expanduser()
        if not p.exists():
            return ModelError(f"model directory {model} does not exist")
        return ModelError(f"{model} is not a loadable model directory (no config.json / weights): "
                          f"{' '.join(str(err).split())[:200]}")
    return ModelError(
        f"model '{model}' is not in the local Hugging Face cache and the Hub cannot be reached; download it where "
        f"there is a network (hf download {model}) or pass a local directory with --model PATH"
    )


#: seconds the one reachability probe of the Hub may take
HUB_PROBE_TIMEOUT = 3.0


def use_cache_only_without_network(model: str) -> None:
    """When the Hub cannot be reached, switch huggingface_hub to offline mode before anything asks it.

    Without this a hub id with no network costs five retries with back-off (~45 s of "Retrying in 8s"
    lines) before the same answer; with it the local cache is used, or the clear "not in the local cache"
    error comes at once. One TCP connection attempt decides (``HUB_PROBE_TIMEOUT``).
    """
    if _looks_like_path(model):
        return
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=HUB_PROBE_TIMEOUT).close()
    except OSError:
        constants.HF_HUB_OFFLINE = True  # is_offline_mode() reads it on every call
        from vlparse.run import console

        console.verbose(f"{url.hostname} cannot be reached: using the local Hugging Face cache only")


def read_family(model: str, override: str | None) -> tuple[Family, Any]:
    """The model's config and its family (from config.model_type, or ``override``)."""
    from transformers import AutoConfig

    use_cache_only_without_network(model)
    try:
        cfg = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise _not_found(model, e) from None
    if override:
        return get_family(override), cfg
    return family_from_model_type(getattr(cfg, "model_type", "?")), cfg


def _quiet_transformers() -> None:
    """No weight-loading progress bars or advice on stderr unless --verbose (stderr is for vlparse's own lines)."""
    from transformers.utils import logging as hf_logging

    from vlparse.run import console

    if not console.verbose_enabled():
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


OOM_HINT = "out of memory: try --quant 4bit, a smaller --max-pixels, or a smaller --batch-size"


class LocalBackend(Backend):
    name = "local"

    def __init__(self, opts: LoadOptions):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if opts.dtype not in DTYPES:
            raise UsageError(f"--dtype must be one of {', '.join(DTYPES)} (got '{opts.dtype}')")
        if opts.attn not in ATTNS:
            raise UsageError(f"--attn must be one of {', '.join(ATTNS)} (got '{opts.attn}')")
        self.family, _ = read_family(opts.model, opts.family)
        if not self.family.local:
            raise ModelError(f"{self.family.title} checkpoints are not transformers image-text models; run them behind "
                             "a server (--backend openai) or use --from-output")
        self.device = resolve_device(opts.device)
        self.dtype = _torch_dtype(opts.dtype, self.device)
        if opts.attn == "flash_attention_2":
            try:
                import flash_attn  # noqa: F401
            except Exception:
                raise ModelError("--attn flash_attention_2 needs the flash-attn package and a CUDA GPU "
                                 "(pip install flash-attn); use --attn sdpa") from None
            if not self.device.startswith("cuda"):
                raise ModelError("--attn flash_attention_2 runs on CUDA GPUs only; use --attn sdpa on the CPU")
        _quiet_transformers()
        qcfg = quantization_config(opts.quant, self.dtype)
        kwargs: dict[str, Any] = {"dtype": self.dtype, "attn_implementation": opts.attn}
        if qcfg is not None:
            kwargs["quantization_config"] = qcfg
        kwargs["device_map"] = "auto" if self.device == "cuda" and torch.cuda.device_count() > 1 else self.device
        try:
            self.processor = AutoProcessor.from_pretrained(opts.model)
            self.model = AutoModelForImageTextToText.from_pretrained(opts.model, **kwargs)
        except (OSError, ValueError) as e:
            if is_oom(e):
                raise OutOfMemoryError(OOM_HINT) from None
            raise _not_found(opts.model, e) from None
        except RuntimeError as e:
            if is_oom(e):
                raise OutOfMemoryError(OOM_HINT) from None
            raise
        self._adopt(self.model, self.processor, opts.model, opts.quant, opts.batch_size, opts.fast)

    @classmethod
    def from_loaded(cls, model, processor, family: Family, device: str, dtype, name: str, *, quant: str = "none",
                    batch_size: int | None = None, fast: bool = True) -> LocalBackend:
        """A backend around a model already in memory (e.g. random weights built by ``vlparse bench``)."""
        b = cls.__new__(cls)
        b.family, b.device, b.dtype = family, device, dtype
        b._adopt(model, processor, name, quant, batch_size, fast)
        return b

    def _adopt(self, model, processor, name: str, quant: str, batch_size: int | None, fast: bool) -> None:
        from vlparse.backends.model_inputs import InputBuilder

        self.model, self.processor = model.eval(), processor
        self.model_name = name
        self.quant = quant
        tok = processor.tokenizer
        tok.padding_side = "left"
        self.eos_ids = self._eos_ids()
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_ids[0]
        self.batch_size = batch_size or self._default_batch_size()
        self.fast = fast
        self.inputs = InputBuilder(processor, self.family.merge_size, self.family.patch_size)

    # -- helpers -------------------------------------------------------------------------------
    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        tok = self.processor.tokenizer
        for t in ("<|im_end|>", "<|endoftext|>"):
            i = tok.convert_tokens_to_ids(t)
            if isinstance(i, int) and i != tok.unk_token_id and i not in ids:
                ids.append(i)
        return ids

    def _default_batch_size(self) -> int:
        import torch

        if not self.device.startswith("cuda"):
            return 4
        free, _ = torch.cuda.mem_get_info(torch.device(self.device))
        # ~1.5 GiB of KV cache and activations per dense page for a 7B model: a conservative default
        return max(1, min(32, int(free / 2**30 / 1.5)))

    def build_inputs(self, requests: Sequence[Request]):
        """Chat-templated, left-padded model inputs for a batch (one image + text per request)."""
        inputs = self.inputs.build(requests)
        self._check_geometry(requests, inputs["image_grid_thw"])
        return inputs

    def _check_geometry(self, requests: Sequence[Request], grid) -> None:
        patch = self.family.patch_size
        for r, (_, gh, gw) in zip(requests, grid.tolist()):
            if (gw * patch, gh * patch) != r.image.size:
                raise ModelError(
                    f"the processor resized {r.key} from {r.image.size[0]}x{r.image.size[1]} to "
                    f"{gw * patch}x{gh * patch}: its pixel budget or patch size disagrees with the {self.family.title} "
                    "family (check --family / --max-pixels)")

    def decode(self, new_tokens) -> tuple[str, str, int]:
        """(text, finish_reason, n_tokens) of one row of generated ids (special tokens kept but the EOS)."""
        ids = new_tokens.tolist()
        finish = "length"
        for i, t in enumerate(ids):
            if t in self.eos_ids:
                ids, finish = ids[:i], "stop"
                break
        ids = [t for t in ids if t != self.pad_id]
        # keep special tokens: Qwen2-VL's <|box_start|> / <|object_ref_start|> carry the grounding
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return text, finish, len(ids)

    # -- the interface ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):  # one decoding setup per model call
            groups.setdefault((r.max_new_tokens, r.temperature, r.repetition_penalty, r.min_pixels, r.max_pixels),
                              []).append(i)
        out: list[Answer | None] = [None] * len(requests)
        for idx in groups.values():
            sub = [requests[i] for i in idx]
            for i, a in zip(idx, self._generate_oom_safe(sub)):
                out[i] = a
        return out  # type: ignore[return-value]

    def _generate_oom_safe(self, requests: Sequence[Request]) -> list[Answer]:
        """Generate; on CUDA out-of-memory, halve the batch and retry (batch 1 OOM is fatal)."""
        import torch

        try:
            return self._generate_batch(requests)
        except (RuntimeError, torch.OutOfMemoryError) as e:
            if not is_oom(e):
                raise
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()
            if len(requests) == 1:
                raise OutOfMemoryError(OOM_HINT) from None
            half = len(requests) // 2
            self.batch_size = max(1, half)
            return self._generate_oom_safe(requests[:half]) + self._generate_oom_safe(requests[half:])

    def _generate_batch(self, requests: Sequence[Request]) -> list[Answer]:
        import torch

        r0 = requests[0]
        inputs = self.build_inputs(requests).to(self.model.device)
        sample = r0.temperature > 0
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": r0.max_new_tokens, "do_sample": sample, "eos_token_id": self.eos_ids,
            "pad_token_id": self.pad_id,
        }
        if sample:
            gen_kwargs.update(temperature=r0.temperature, top_p=0.95)
        else:  # silence "temperature is set but do_sample=False" from generation_config defaults
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        # always explicit: a missing value would come from the checkpoint's generation_config (1.05 for the released
        # Qwen2.5-VL), and the plain path would then disagree with the fast path and with the Decoding asked for
        gen_kwargs["repetition_penalty"] = r0.repetition_penalty
        prompt_len = inputs["input_ids"].shape[1]
        if self.fast and not sample and r0.repetition_penalty == 1.0:
            from vlparse.backends.fastgen import fast_generate

            seqs = fast_generate(self.model, inputs, max_new_tokens=r0.max_new_tokens, eos_ids=self.eos_ids,
                                 pad_id=self.pad_id)
        else:
            with torch.inference_mode():
                seqs = self.model.generate(**inputs, **gen_kwargs)[:, prompt_len:]
        answers = []
        for r, row in zip(requests, seqs.cpu()):
            text, finish, n = self.decode(row)
            answers.append(Answer(r.key, text, finish, n))
        return answers

    def close(self) -> None:
        """Drop the model and hand its GPU memory back (PyTorch's caching allocator keeps freed blocks otherwise)."""
        import gc

        self.model = None
        gc.collect()
        if str(getattr(self, "device", "")).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
