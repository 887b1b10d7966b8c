"""The vLLM path of ``vlparse bench``, run as a subprocess in the environment that has vLLM.

``python -m vlparse.tools.bench_vllm SPEC.json`` reads the pages (PNG files vlparse rendered), the prompt, the
pixel budget and the token count the parent bench used, hands every page to ``LLM.generate`` at once
(continuous batching, EOS ignored so each page yields exactly ``new_tokens``), and prints one JSON line:
``{"model_s", "tokens", "pages", "mode"}`` for the fastest of ``repeat`` runs (after one untimed warm-up).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from PIL import Image

    from vlparse.backends.base import Request
    from vlparse.backends.vllm_offline import VllmBackend
    from vlparse.core.families import get_family
    from vlparse.core.prompt import Prompt

    spec = json.loads(Path(argv[0]).read_text())
    family = get_family(spec["family"])
    prompt = Prompt(spec["system"], spec["user"])
    images = [Image.open(p).convert("RGB") for p in spec["pages"]]
    requests = [Request(f"page{i + 1}", img, prompt, spec["new_tokens"], min_pixels=spec["min_pixels"],
                        max_pixels=spec["max_pixels"]) for i, img in enumerate(images)]
    backend = VllmBackend(family, spec["model"], batch_size=len(requests))
    from vllm import SamplingParams

    inputs = [backend.engine_input(r) for r in requests]
    params = SamplingParams(max_tokens=spec["new_tokens"], temperature=0.0, ignore_eos=True, skip_special_tokens=False)
    backend.llm.generate(inputs[:1], SamplingParams(max_tokens=2, ignore_eos=True), use_tqdm=False)  # warm-up
    best = None
    for _ in range(spec.get("repeat", 1)):
        t0 = time.perf_counter()
        outputs = backend.llm.generate(inputs, params, use_tqdm=False)
        model_s = time.perf_counter() - t0
        for r, out in zip(requests, outputs):
            backend.check_grid(r, out.prompt_token_ids)
        tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
        if best is None or model_s < best["model_s"]:
            best = {"model_s": model_s, "tokens": tokens, "pages": len(requests), "mode": "continuous batching"}
    sys.stdout.write(json.dumps(best) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
