"""Tools beside the library's core path: the speed bench, synthetic checkpoints, the environment report, the probe.

The names below are this package's surface for the command modules (imported lazily: the bench pulls in torch).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BenchOptions": ("vlparse.tools.bench", "BenchOptions"),
    "run_bench": ("vlparse.tools.bench", "run_bench"),
    "print_bench_table": ("vlparse.tools.bench", "print_table"),
    "bench_json": ("vlparse.tools.bench", "to_json"),
    "environment_report": ("vlparse.tools.environment", "report"),
    "probe_server": ("vlparse.tools.probe", "probe_server"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), attr)
