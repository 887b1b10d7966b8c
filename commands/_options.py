"""The options the commands share, declared once.

The options ``doc`` and ``ground`` share are the fields of :class:`vlparse.core.options.BackendOptions`
and :class:`vlparse.core.options.RunOptions` that carry ``cli(...)`` metadata. :func:`shared_options`
turns each of them into a Typer option (flags, help, panel, ``min``, envvar, choices of Enum fields) and
appends them to the command's own parameters; when the command runs, their values come back as one
:class:`Shared` object holding a ready :class:`BackendOptions` and the :class:`RunOptions` keywords.

To add an option both commands share: add the field, with ``metadata=cli("--flag", help=...)``, to
``BackendOptions`` or ``RunOptions`` in ``vlparse/core/options.py``. Nothing here changes.
To add an option of one command only: add a parameter to that command's function.

The ``Annotated`` aliases below (``Model``, ``Dtype``...) serve the commands that take a few of these
options without the whole set (``render``, ``bench``); they are built from the same fields.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

import vlparse.core.options as opt

M, B, R, S = opt.PANEL_MODEL, opt.PANEL_BUDGET, opt.PANEL_RUN, opt.PANEL_SERVER


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(opt))


def _option(f: dataclasses.Field, hint: Any) -> tuple[Any, Any]:
    """(annotation, default) of the Typer parameter of a dataclass field with ``cli`` metadata."""
    meta = dict(f.metadata["cli"])
    flags, help_text, panel = meta.pop("flags"), meta.pop("help"), meta.pop("panel")
    kind = meta.pop("kind", None)
    if kind == "device":
        meta.update(parser=opt.parse_device, metavar="[" + "|".join(opt.DEVICE_CHOICES) + "]")
        hint = str
    if isinstance(hint, type) and issubclass(hint, opt.Choice):
        meta.setdefault("case_sensitive", False)  # --dtype BF16, as the library takes it
    origin = typing.get_origin(hint)
    if origin is list:  # repeatable; the dataclass fills its own empty list
        hint, default = Optional[hint], None
    elif f.default is not dataclasses.MISSING:
        default = f.default
    else:
        default = f.default_factory()  # type: ignore[misc]
    return Annotated[hint, typer.Option(*flags, help=help_text, rich_help_panel=panel, **meta)], default


def _shared_fields() -> list[tuple[str, dataclasses.Field, Any]]:
    out = []
    for cls, where in ((opt.BackendOptions, "backend"), (opt.RunOptions, "run")):
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            if "cli" in f.metadata:
                out.append((where, f, hints[f.name]))
    return out


@dataclass
class Shared:
    """The shared options of one command line: ``backend`` is built; ``run`` are RunOptions keywords."""

    backend: opt.BackendOptions
    run: dict[str, Any]


def shared_options(fn):
    """Give the command ``fn`` every shared option; ``fn`` receives them as ``shared: Shared``."""
    sig = inspect.signature(fn, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "shared"]
    fields = _shared_fields()
    taken = {p.name for p in own}
    extra = []
    for _, f, hint in fields:
        if f.name in taken:
            raise TypeError(f"{fn.__name__}: parameter {f.name} is already a shared option")
        annotation, default = _option(f, hint)
        extra.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))

    @functools.wraps(fn)
    def command(**kwargs):
        values = {where: {} for where in ("backend", "run")}
        for where, f, _ in fields:
            value = kwargs.pop(f.name)
            values[where][f.name] = value if value is not None or f.default_factory is dataclasses.MISSING \
                else f.default_factory()  # type: ignore[misc]
        return fn(**kwargs, shared=Shared(opt.BackendOptions(**values["backend"]), values["run"]))

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
              else p for p in own]
    command.__signature__ = sig.replace(parameters=params + extra)
    command.__annotations__ = {**{p.name: p.annotation for p in params + extra}, "return": sig.return_annotation}
    del command.__wrapped__  # Typer must see the merged signature, not fn's
    return command


# One Annotated alias per shared option, for the commands that take a few of them without the whole set (render,
# bench, and any new command): ``model: o.Model = None``. Built from the same fields, so help and choices agree.
_ALIASES = {"base_urls": "BaseUrl"}
for _where, _f, _hint in _shared_fields():
    _name = _ALIASES.get(_f.name) or "".join(part.capitalize() for part in _f.name.split("_"))
    globals()[_name] = _option(_f, _hint)[0]
Model: Any
Family: Any
Dtype: Any
Quant: Any
Device: Any
Attn: Any
BatchSize: Any
Backend: Any
BaseUrl: Any
ApiKey: Any
ApiModel: Any
Concurrency: Any
Timeout: Any
FromOutput: Any
MaxNewTokens: Any
MaxPixels: Any
MinPixels: Any
Dpi: Any
Password: Any
Recursive: Any
Retries: Any
FailFast: Any
Force: Any
Jsonl: Any
Quiet: Any
Verbose: Any
PromptFile: Any

def choices_help() -> str:
    """One line per choice option, for ``vlparse --help``: generated from the enums, so it cannot drift."""
    return "Choices: " + "; ".join([
        f"--backend {'|'.join(opt.BackendKind.values())}",
        f"--dtype {'|'.join(opt.Dtype.values())}",
        f"--quant {'|'.join(opt.Quant.values())}",
        f"--attn {'|'.join(opt.Attn.values())}",
        f"--device {'|'.join(opt.DEVICE_CHOICES)}",
        f"render --task {'|'.join(opt.TaskKind.values())}",
    ]) + "."
