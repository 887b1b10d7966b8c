"""Where results go: one file, a directory of per-input files, the current directory, or stdout."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from vlparse.core.errors import UsageError

#: export format -> file suffix
SUFFIXES = {
    "json": ".json", "html": ".html", "md": ".md", "raw": ".raw.jsonl", "hocr": ".hocr",
    "alto": ".alto.xml", "searchable-pdf": ".searchable.pdf", "review": ".review.html", "jsonl": ".jsonl",
    "coco": ".coco.json", "chunks": ".chunks.jsonl",
}


@dataclass
class OutputPlan:
    mode: str  # "dir" | "file" | "stdout"
    root: Path  # the directory (dir mode, also the cwd default) or the file
    names: dict[str, str] = field(default_factory=dict)  # input -> collision-free base name
    resumable: bool = False  # a -o DIR run keeps state and a manifest
    remote: str | None = None  # -o URL: the fsspec URL (root is then the local staging directory)

    def path_for(self, source: str, fmt: str) -> Path | None:
        """The file of ``fmt`` for ``source`` (None means stdout)."""
        if self.mode == "stdout":
            return None
        if self.mode == "file":
            return self.root
        return self.root / (self.names[source] + SUFFIXES[fmt])


def unique_names(sources: list[str]) -> dict[str, str]:
    """Base names from the input names, made unique with a short hash of the path where stems collide."""
    stems: dict[str, list[str]] = {}
    for s in sources:
        stems.setdefault(Path(s).stem or "stdin", []).append(s)
    names = {}
    for stem, group in stems.items():
        for s in group:
            names[s] = stem if len(group) == 1 else f"{stem}-{hashlib.sha1(os.fsencode(os.path.realpath(s))).hexdigest()[:6]}"
    return names


def plan_outputs(output: str | None, sources: list[str], formats: list[str], *, many: bool) -> OutputPlan:
    """``many``: the inputs came as a list or directory (dir mode even for one input)."""
    if output == "-":
        if len(formats) != 1 or len(sources) > 1 or many:
            raise UsageError("-o - writes one format of one input to stdout; use -o DIR for more")
        return OutputPlan("stdout", Path("-"))
    if output is None:
        plan = OutputPlan("dir", Path.cwd(), unique_names(sources))
    else:
        p = Path(output)
        # a directory unless it names one file: an existing file, or a new name with a suffix (out.json)
        is_dir = (p.is_dir() or output.endswith(("/", "\\")) or len(sources) > 1 or many or len(formats) > 1
                  or (not p.exists() and not p.suffix))
        if is_dir:
            if p.exists() and not p.is_dir():
                raise UsageError(f"-o {output} is a file, but this run writes several files: give a directory")
            plan = OutputPlan("dir", p, unique_names(sources), resumable=True)
        else:
            plan = OutputPlan("file", p)
    inputs = {os.path.realpath(s) for s in sources if s != "-"}  # realpath: a symlink loop is no crash
    for s in sources:
        for fmt in formats:
            target = plan.path_for(s, fmt)
            if target is not None and os.path.realpath(target) in inputs:
                raise UsageError(f"refusing to overwrite the input {target} (choose another -o)")
    return plan
