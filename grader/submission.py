"""Reading a submission from disk, refusing what is not a plain file.

Only the path's problems (missing, a directory, a symlink) are usage errors;
what is *in* the file (empty, binary, too big, broken) is the student's
result and is judged by the policy. A file name need not be UTF-8: the name
kept (and every message) shows such bytes as ``\xff``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SubmissionNotFound, UsageError
from .util import display_path


@dataclass(frozen=True)
class Submission:
    name: str
    raw: bytes
    size: int

    @property
    def truncated(self) -> bool:
        """True when only the first bytes were read because the file is too big."""
        return len(self.raw) < self.size

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def load_submission(path: Path, max_bytes: int) -> Submission:
    """Read at most ``max_bytes + 1`` bytes: enough to say a file is too big."""
    shown = display_path(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise SubmissionNotFound(
            f"No such file: {shown}", fix="Pass the path of your minigpt.py."
        ) from None
    except OSError as exc:
        raise UsageError(f"Cannot read {shown}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(
            f"{shown} is a symbolic link; the grader reads only regular files.",
            fix="Pass the file itself (or a copy of it).",
        )
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"{shown} is a directory.",
            fix="Pass the file: grade path/to/minigpt.py (use `grade batch` for folders).",
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{shown} is not a regular file.")
    # Opened without following a link and without blocking, and checked again once
    # open: the file may have been swapped for a link or a FIFO since lstat.
    flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UsageError(f"Cannot read {shown}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise UsageError(f"{shown} is not a regular file.")
        try:
            raw = handle.read(max_bytes + 1)
        except OSError as exc:
            raise UsageError(f"Cannot read {shown}: {exc.strerror}") from None
    size = max(opened.st_size, len(raw))
    return Submission(name=display_path(path.name), raw=raw, size=size)
