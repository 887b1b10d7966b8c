"""The ``vlparse`` command line: a Typer app whose commands live in :mod:`vlparse.commands`.

This module only wires commands together and maps errors to one clear line and an exit code.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import Abort, Exit, TyperException

from vlparse import __version__
from vlparse.run import console
from vlparse.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, VlparseError

EXIT_CODES_HELP = (
    "Exit codes: 0 all done; 1 some inputs or pages failed; 2 usage error or unreadable input; "
    "3 model unavailable; 4 out of memory; 5 server unreachable; 130 interrupted."
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


def _interruptible(fn):
    """Ctrl-C inside a command becomes :class:`Interrupted` (Typer would turn it into a silent exit 130)."""
    import functools

    @functools.wraps(fn)
    def command(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted("interrupted (finished pages are kept: rerun the same command to resume)") from None

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
    try:
        rv = app(args=args, prog_name="vlparse", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
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
        code = 0
    except Exception as e:  # last resort: still one line, unless --debug
        if console.debug_enabled():
            raise
        console.error(f"internal error: {type(e).__name__}: {e} (run with --debug for a traceback)")
        code = 1
    sys.stdout.flush()
    return code


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())
