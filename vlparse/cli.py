"""The ``vlparse`` command line: a Typer app whose commands live in :mod:`vlparse.commands`.

This module only wires commands together and maps errors to one clear line and an exit code.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import typer
from typer.exceptions import Abort, Exit, TyperException

from vlparse import __version__
from vlparse.run import console
from vlparse.core.errors import EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TERMINATED, EXIT_USAGE, VlparseError

EXIT_CODES_HELP = (
    "Exit codes: 0 all done; 1 some inputs or pages failed; 2 usage error or unreadable input; "
    "3 model unavailable; 4 out of memory; 5 server unreachable; 130 interrupted (Ctrl-C); 141 stdout closed; "
    "143 terminated (SIGTERM)."
)

app = typer.Typer(
    name="vlparse",
    help="PDFs and images to structured, grounded results with the Qwen VL models.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"vlparse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (also VLPARSE_DEBUG=1)."),
):
    if debug:
        console.configure(debug=True)


class Interrupted(VlparseError):
    exit_code = EXIT_INTERRUPTED


class ClosedPipe(VlparseError):
    """The reader of stdout went away (``… | head -1``): end quietly, as ``cat`` or ``grep`` do."""

    exit_code = EXIT_PIPE


class _Terminate(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so the run stops the way Ctrl-C stops it."""


def _on_sigterm(signum, frame):
    raise _Terminate()


def _interruptible(fn):
    """Ctrl-C / SIGTERM inside a command become :class:`Interrupted` (130 / 143), a closed stdout
    :class:`ClosedPipe` (141): Typer would turn them into a silent 130 and an exit 1 ("some pages failed")."""
    import functools

    @functools.wraps(fn)
    def command(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _Terminate:
            raise Interrupted("terminated (finished pages are kept: rerun the same command to resume)",
                              exit_code=EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted (finished pages are kept: rerun the same command to resume)") from None
        except BrokenPipeError:
            raise ClosedPipe("stdout closed") from None

    return command


def _register() -> None:
    from vlparse.commands import REGISTRY

    examples = []
    for name, fn, help_text, epilog in REGISTRY():
        app.command(name, help=help_text, epilog=epilog)(_interruptible(fn))
        first = epilog.split(":", 1)[-1].split(" | ")[0].strip() if epilog else ""
        if first:
            examples.append(first)
    from vlparse.commands._options import choices_help

    app.info.help = (f"{app.info.help}\n\n{choices_help()}\n\n"
                     "Examples (one per command; each command's --help has more):\n\n"
                     + "\n\n".join(f"  {e}" for e in examples))


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns (and exits with) the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, "reconfigure"):  # a non-UTF-8 file name in a JSON line: a \udcXX escape, not a crash
        sys.stdout.reconfigure(errors="backslashreplace")
    if "--debug" in args:
        console.configure(debug=True)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return _main(args)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """After the reader of stdout left: further writes (the interpreter's final flush) go nowhere."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to silence
        pass


def _main(args: list[str]) -> int:
    try:
        rv = app(args=args, prog_name="vlparse", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except ClosedPipe as e:
        _silence_stdout()
        code = e.exit_code
    except VlparseError as e:
        if console.debug_enabled():
            raise
        console.error(e.message)
        code = e.exit_code
    except Exit as e:
        code = e.exit_code
    except Abort:
        console.error("interrupted")
        code = EXIT_INTERRUPTED
    except TyperException as e:  # usage errors: bad option, missing argument, no such command: one line
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        console.error(e.format_message().replace("Value error, ", "") + hint)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        console.error("interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_PIPE
    except Exception as e:  # last resort: still one line, unless --debug
        if console.debug_enabled():
            raise
        console.error(f"internal error: {type(e).__name__}: {e} (run with --debug for a traceback)")
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_PIPE
    return code


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())
