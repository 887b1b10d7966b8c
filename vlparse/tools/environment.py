"""What this machine offers vlparse: library versions, accelerators, supported families."""

from __future__ import annotations

import importlib.metadata as md
import platform
from typing import Any

from vlparse import __version__
from vlparse.core.families import DEFAULT_MODEL, FAMILIES

PACKAGES = ("torch", "torchvision", "transformers", "accelerate", "bitsandbytes", "pymupdf", "pillow", "lxml",
            "typer", "rich", "nh3", "json-repair")


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def report() -> dict[str, Any]:
    info: dict[str, Any] = {
        "vlparse": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "cuda": {"available": False, "devices": []},
        "default_model": DEFAULT_MODEL,
        "families": [
            {"name": f.name, "coords": f.coords, "grounding": f.grounding, "factor": f.factor,
             "document_html": f.html, "local": f.local, "example": f.example_model}
            for f in FAMILIES.values()
        ],
    }
    try:
        import torch

        info["cuda"]["built"] = torch.version.cuda
        if torch.cuda.is_available():
            info["cuda"]["available"] = True
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                free, total = torch.cuda.mem_get_info(i)
                info["cuda"]["devices"].append({"index": i, "name": p.name, "total_gib": round(total / 2**30, 1),
                                                "free_gib": round(free / 2**30, 1),
                                                "capability": f"{p.major}.{p.minor}"})
    except Exception as e:  # torch missing or broken: report, do not fail
        info["cuda"]["error"] = f"{type(e).__name__}: {e}"
    return info
