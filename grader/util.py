"""Filesystem helpers shared by the CLI and batch grading."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def display_path(path: Path | str) -> str:
    """A path as valid text: bytes of a name that are not UTF-8 become ``\\xff``.

    On Linux a file name is bytes; Python hands a non-UTF-8 one over with lone
    surrogates, which cannot be written as JSON or UTF-8. This is the name to
    show and to store; the Path itself still opens the file.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: a crash never leaves half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
