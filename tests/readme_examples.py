"""The README's fenced examples, found by the heading they sit under, to run them as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(heading: str, lang: str) -> list[str]:
    """The ``lang`` fenced blocks of the README section whose heading line starts with ``heading``."""
    m = re.search(rf"^#+ {re.escape(heading)}.*?$(.*?)(?=^#+ |\Z)", README, re.M | re.S)
    assert m, f"the README has no heading {heading!r}"
    found = re.findall(rf"^```{lang}\n(.*?)^```", m.group(1), re.M | re.S)
    assert found, f"the README section {heading!r} has no {lang} block"
    return found


def shell(cmd: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a README shell block (continuation lines joined) with this venv's scripts first on PATH."""
    e = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    return subprocess.run(cmd.replace("\\\n", " "), shell=True, cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=e)


def python(code: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600, env=e)
