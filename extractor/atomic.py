"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

Write to a temporary file in the same folder, fsync it, ``os.replace`` it over the target (an atomic rename on
POSIX and Windows), then fsync the folder so the rename itself survives a power cut. Used by the batch's end
files, the review export and the model artifacts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some platforms; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_beside(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_file(target: Path | str, mode: str = "w", **kwargs):
    """An open file object for ``target``; on success it replaces ``target``, on any error it is removed
    and the old file stays as it was."""
    target = Path(target)
    tmp = _temp_beside(target)
    f = open(tmp, mode, **kwargs)
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temporary path beside ``target``, for writers that want a file name (numpy, skops); on success it
    replaces ``target``, on error it is removed."""
    target = Path(target)
    tmp = _temp_beside(target)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # the writer may have closed it without fsync
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(target: Path | str, text: str, encoding: str = "utf-8") -> None:
    with atomic_file(target, "w", encoding=encoding) as fh:
        fh.write(text)
