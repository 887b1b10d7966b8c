"""Which files a run reads: paths, directories, globs, or ``-`` for a list of paths on stdin.

Readable-looking files become sources (in the order given, without duplicates); paths that do not
exist become *problems* (reported, recorded in the manifest, the run goes on). Whether a file is
really a readable PDF or image is decided when it is opened (:func:`vlparse.pages.render.open_source`).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from vlparse.core.errors import UsageError
from vlparse.pages.render import IMAGE_SUFFIXES, PDF_SUFFIXES

SUPPORTED = PDF_SUFFIXES | IMAGE_SUFFIXES
_GLOB_CHARS = set("*?[")


@dataclass
class Inputs:
    paths: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, path: str) -> None:
        """Add ``path`` unless the same file is already in (another spelling, a symlink, a hard link)."""
        try:
            st = os.stat(path)
            key: object = (st.st_dev, st.st_ino)
        except OSError:
            key = os.path.abspath(path)
        if key not in self._seen:
            self._seen.add(key)
            self.paths.append(path)


def _directory(root: Path, recursive: bool) -> list[str]:
    files = []
    walker = os.walk(root) if recursive else [(str(root), [], [e.name for e in os.scandir(root) if e.is_file()])]
    for dirpath, dirnames, filenames in walker:
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED:
                files.append(str(Path(dirpath) / f))
    return files


def read_path_list(stream: TextIO | None) -> list[str]:
    """Newline-separated paths (blank lines and ``#`` comments skipped; NUL-separated also accepted)."""
    if stream is None:
        raise UsageError("'-' reads a list of paths from stdin, but there is no stdin")
    try:
        if stream.isatty():
            raise UsageError("'-' reads a list of paths from stdin, but stdin is a terminal (pipe a list in)")
    except (AttributeError, ValueError):
        pass
    text = stream.read()
    parts = text.split("\0") if "\0" in text else text.splitlines()
    return [p.strip("\r\n") for p in parts if p.strip() and not p.lstrip().startswith("#")]


def expand_inputs(items: list[str], *, recursive: bool = False, stdin: TextIO | None = None) -> Inputs:
    res = Inputs()
    listed: list[str] = []
    for item in items:
        if item == "-":
            listed.extend(read_path_list(stdin))
        else:
            listed.append(item)
    for item in listed:
        p = Path(item).expanduser()
        if p.is_dir():
            found = _directory(p, recursive)
            if not found:
                res.problems.append((item, "no PDFs or images in this directory"
                                           + ("" if recursive else " (use --recursive to descend into subfolders)")))
            for f in found:
                res.add(f)
        elif p.exists():
            res.add(str(p))
        elif _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(str(p), recursive=recursive))
            files = [m for m in matches if Path(m).is_file() and Path(m).suffix.lower() in SUPPORTED]
            if not files:
                res.problems.append((item, "the pattern matches no PDF or image"))
            for f in files:
                res.add(f)
        else:
            res.problems.append((item, "no such file"))
    return res
