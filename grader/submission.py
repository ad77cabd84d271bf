"""Reading a submission from disk, refusing what is not a plain file.

Only the path's problems (missing, a directory, a symlink) are usage errors;
what is *in* the file (empty, binary, too big, broken) is the student's
result and is judged by the policy.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SubmissionNotFound, UsageError


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
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise SubmissionNotFound(
            f"No such file: {path}", fix="Pass the path of your minigpt.py."
        ) from None
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(
            f"{path} is a symbolic link; the grader reads only regular files.",
            fix="Pass the file itself (or a copy of it).",
        )
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"{path} is a directory.",
            fix="Pass the file: grade path/to/minigpt.py (use `grade batch` for folders).",
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file.")
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}") from None
    return Submission(name=path.name, raw=raw, size=max(info.st_size, len(raw)))
