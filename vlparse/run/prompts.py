"""Prompt templates, stored as data files: ``prompts/<family>/<task>.toml``.

Each file has ``user`` (required) and ``system`` (optional) strings. ``{queries}`` in a
grounding template is replaced by the query list. ``--prompt-file`` points at a file of
the same shape (or a plain text file, taken as the user text) to override.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from vlparse.core.prompt import Prompt
from vlparse.core.errors import UsageError
from vlparse.core.families import Family

TASKS = ("doc", "doc-markdown", "ground", "points", "extract")


#: a line only a TOML prompt file has (``user = ...``, ``system = ...``)
_TOML_KEY = re.compile(r"^\s*(?:user|system)\s*=", re.M)


def _parse(text: str, origin: str, plain_ok: bool) -> dict:
    """``plain_ok``: a file that is not TOML is the user text, unless it was meant as TOML (a ``.toml``
    name, or ``user = ...`` / ``system = ...`` lines): a broken TOML file is an error, never sent as the prompt."""
    if "\0" in text:
        raise UsageError(f"prompt file {origin} holds NUL bytes (a binary file?); give a TOML or text file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        if plain_ok and not origin.lower().endswith(".toml") and not _TOML_KEY.search(text):
            return {"user": text.strip()}
        raise UsageError(f"prompt file {origin} is not valid TOML: {e}") from None
    if not isinstance(data.get("user"), str):
        if plain_ok and not data:
            return {"user": text.strip()}
        raise UsageError(f"prompt file {origin} needs a 'user' string")
    return data


def load_prompt(family: Family, task: str, override: str | Path | None = None) -> Prompt:
    if override is not None:
        path = Path(override)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"prompt file {path} is not UTF-8 text (invalid byte at offset {e.start}; a binary "
                             "file?)") from None
        except OSError as e:
            raise UsageError(f"cannot read prompt file {path}: {e.strerror or e}") from None
        data = _parse(text, str(path), plain_ok=True)
    else:
        res = resources.files("vlparse.prompts").joinpath(family.name, f"{task}.toml")
        if not res.is_file():
            raise UsageError(f"{family.title} has no '{task}' prompt (vlparse ships none for this family)")
        data = _parse(res.read_text(encoding="utf-8"), f"{family.name}/{task}.toml", plain_ok=False)
    system = data.get("system")
    if not data["user"].strip():
        raise UsageError(f"prompt file {override if override is not None else task} has an empty user text")
    return Prompt(system=system.strip() if isinstance(system, str) and system.strip() else None,
                  user=data["user"].strip())


def fill_queries(prompt: Prompt, queries: list[str]) -> Prompt:
    """Insert the grounding queries into a template (``{queries}``)."""
    joined = ", ".join(q.strip() for q in queries if q.strip())
    if "{queries}" not in prompt.user:
        return Prompt(prompt.system, f"{prompt.user} {joined}".strip())
    return Prompt(prompt.system, prompt.user.replace("{queries}", joined))


def fill_schema(prompt: Prompt, template: str, fields: str) -> Prompt:
    """Insert an extraction schema into a template (``{template}``: the answer's JSON shape, ``{fields}``: one
    line per field); a template without the placeholders gets both appended."""
    user = prompt.user
    if "{template}" not in user and "{fields}" not in user:
        return Prompt(prompt.system, f"{user}\n{template}\nFields:\n{fields}".strip())
    return Prompt(prompt.system, user.replace("{template}", template).replace("{fields}", fields))
