"""Run orchestration: the jobs behind the commands (files, exports, progress, resume).

The names below are this layer's surface for the command modules (imported lazily, so ``vlparse --help``
and ``vlparse render`` load only what they use).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "console": ("vlparse.run.console", None),
    "run_doc": ("vlparse.run.doc", "run_doc"),
    "run_ground": ("vlparse.run.ground", "run_ground"),
    "run_extract": ("vlparse.run.extract", "run_extract"),
    "split_args": ("vlparse.run.ground", "split_args"),
    "run_render": ("vlparse.run.render_job", "run_render"),
    "run_eval": ("vlparse.run.eval_job", "run_eval"),
    "EvalOptions": ("vlparse.run.eval_job", "EvalOptions"),
    "RenderOptions": ("vlparse.run.render_job", "RenderOptions"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)
