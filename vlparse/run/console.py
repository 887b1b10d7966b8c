"""Where messages go: results on stdout, everything else (logs, warnings, progress) on stderr."""

from __future__ import annotations

import os
import sys

from rich.console import Console

_err: Console | None = None
_state = {"quiet": False, "verbose": False, "debug": bool(os.environ.get("VLPARSE_DEBUG"))}


def stderr() -> Console:
    global _err
    if _err is None:
        _err = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err


def configure(quiet: bool = False, verbose: bool = False, debug: bool | None = None) -> None:
    _state["quiet"], _state["verbose"] = quiet, verbose
    if debug is not None:
        _state["debug"] = debug


def verbose_enabled() -> bool:
    return _state["verbose"] and not _state["quiet"]


def debug_enabled() -> bool:
    return _state["debug"]


def printable(text: str) -> str:
    """Text any stream can take: a file name that is not UTF-8 (surrogate escapes) shows as ``\\udcXX``."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def info(msg: str) -> None:
    if not _state["quiet"]:
        stderr().print(printable(msg), markup=False)


def verbose(msg: str) -> None:
    if _state["verbose"] and not _state["quiet"]:
        stderr().print(printable(msg), markup=False, style="dim")


def warn(msg: str) -> None:
    if not _state["quiet"]:
        stderr().print(printable(f"vlparse: warning: {msg}"), markup=False, style="yellow")


def error(msg: str) -> None:
    """One line on stderr, always shown."""
    line = printable(" ".join(str(msg).split()))
    print(f"vlparse: error: {line}", file=sys.stderr, flush=True)


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
