"""User-facing errors: each carries one clear line and the process exit code.

Exit codes (documented in ``vlparse --help`` and the README):
  0  everything done
  1  some inputs or pages failed (the run went on)
  2  usage error (bad option, bad path, unreadable input given alone)
  3  model unavailable (not found, hub unreachable, unknown family, missing dependency)
  4  out of memory
  5  backend unreachable (server down, unknown served model)
  130 interrupted (Ctrl-C) after flushing finished work
  141 stdout closed by its reader (``… | head -1``): the run ends quietly, finished pages kept
  143 terminated (SIGTERM) after flushing finished work
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_OOM = 4
EXIT_BACKEND = 5
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE, the shell's convention for a closed pipe
EXIT_TERMINATED = 143  # 128 + SIGTERM


class VlparseError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(VlparseError):
    exit_code = EXIT_USAGE


class InputError(VlparseError):
    """An input file cannot be read (missing, corrupt, encrypted, too large)."""

    exit_code = EXIT_USAGE


class SchemaError(InputError, ValueError):
    """JSON that is not a vlparse result this version reads (``from_dict``): malformed, or a newer schema."""


class ModelError(VlparseError):
    exit_code = EXIT_MODEL


class OutOfMemoryError(VlparseError):
    exit_code = EXIT_OOM


class BackendError(VlparseError):
    exit_code = EXIT_BACKEND


class OutputError(VlparseError):
    """An output cannot be written (full disk, read-only directory, permission denied): the run stops."""

    exit_code = EXIT_PARTIAL


class BusyError(VlparseError):
    """Another run holds the output directory."""

    exit_code = EXIT_USAGE


class ParseError(VlparseError):
    """A model answer could not be understood at all."""

    exit_code = EXIT_PARTIAL
