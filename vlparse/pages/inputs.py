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


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symbolic link loop: not a directory; reported when it is looked at as a file
        return False


def _directory(root: Path, recursive: bool, problems: list[tuple[str, str]]) -> list[str]:
    """Supported files under ``root``. A subdirectory that cannot be listed is a problem (reported, exit 1),
    never silently skipped; so is a supported name that cannot be opened (a symbolic link loop...)."""
    from vlparse.pages.render import _os_reason

    def unreadable(e: OSError) -> None:
        problems.append((e.filename if isinstance(e.filename, str) else str(root), _os_reason(e)))

    if recursive:
        walker = os.walk(root, onerror=unreadable)
    else:
        try:
            names = [e.name for e in os.scandir(root) if not _is_dir(e)]
        except OSError as e:
            unreadable(e)
            return []
        walker = [(str(root), [], names)]
    files = []
    for dirpath, dirnames, filenames in walker:
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED:
                path = os.path.join(dirpath, f)
                if os.path.isfile(path):
                    files.append(path)
                elif os.path.islink(path):  # a dangling link or a loop: say so rather than skip it
                    try:
                        os.stat(path)
                    except OSError as e:
                        problems.append((path, _os_reason(e)))
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
            before = len(res.problems)
            found = _directory(p, recursive, res.problems)
            if not found and len(res.problems) == before:
                res.problems.append((item, "no PDFs or images in this directory"
                                           + ("" if recursive else " (use --recursive to descend into subfolders)")))
            for f in found:
                res.add(f)
        elif p.exists():
            res.add(str(p))
        elif p.is_symlink():  # a dangling link or a loop (Path.resolve() would raise on it later)
            from vlparse.pages.render import _os_reason

            try:
                os.stat(p)
                res.add(str(p))
            except OSError as e:
                res.problems.append((item, _os_reason(e)))
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
