"""Atomic file writes: a temp file in the target's directory, fsync, then ``os.replace``.

A process killed at any moment leaves either the old file or the new one, never half of one.

What the target is decides how it is written (as ``cp`` and ``rsync`` do):

- a regular file or a new name: atomically (temp file + rename);
- a symlink: followed (the file it points to is replaced atomically), never replaced by a file;
- a device node or a FIFO (``-o /dev/stdout``, a named pipe): written directly, since a rename would
  replace the node itself (atomicity cannot apply there);
- a directory or a socket: refused with one line.

A full disk, a read-only directory or a permission error is an :class:`~vlparse.core.errors.OutputError`
naming the path and the cause (the run stops, exit 1), and leaves no temp file behind.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vlparse.core.errors import OutputError

#: errors that mean "this output cannot be written here" (as opposed to a bug in a writer)
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
                           errno.ENOTDIR, errno.ELOOP, errno.EFBIG, errno.ENAMETOOLONG, errno.EIO, errno.EPIPE})
#: the names :func:`atomic_write` gives its temp files (``.NAME.XXXXXXXX.tmp``), for :func:`clean_stale_temps`
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(fd: int) -> None:  # one place, so tests can inject a full disk
    os.fsync(fd)


def output_error(path: str | Path, e: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {e.strerror or e}")


def atomic_write(path: str | Path, writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(fileobj)`` on a temp file, then move it over ``path`` (see the module docstring)."""
    path = Path(path)
    try:
        return _write(path, writer)
    except OSError as e:
        if e.errno in OUTPUT_ERRNOS:
            raise output_error(path, e) from None
        raise


def _write(path: Path, writer: Callable[[IO[bytes]], None]) -> Path:
    target = Path(os.path.realpath(path)) if path.is_symlink() else path  # follow links, never clobber them
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a directory")
        if stat.S_ISSOCK(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a socket")
        with open(target, "wb") as f:  # a device or FIFO: written in place, never renamed over
            writer(f)
            f.flush()
        return path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            _fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the mode a plain open() would
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    # a file name that is not UTF-8 (surrogate escapes) is written as a \udcXX escape, valid inside JSON strings
    return atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


def atomic_save_image(path: str | Path, image, format: str = "PNG", **save_options) -> Path:  # noqa: A002 - PIL's name
    return atomic_write(path, lambda f: image.save(f, format=format, **save_options))


def same_content(path: str | Path, data: bytes) -> bool:
    """Whether the regular file ``path`` already holds exactly ``data`` (so a rerun need not rewrite it)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def clean_stale_temps(directory: str | Path) -> list[Path]:
    """Remove the temp files a killed run (``kill -9``) left in ``directory``; returns them.

    Call it only while holding the directory's run lock (:mod:`vlparse.run.store`), so no live run's
    temp file is taken away.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for e in entries:
        if TEMP_NAME.match(e.name) and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
                removed.append(Path(e.path))
            except OSError:
                pass
    return removed
