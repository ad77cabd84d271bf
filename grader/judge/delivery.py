"""How the Docker backend hands a submission to a judge that is already running.

The judge starts, imports everything it will ever need, then waits on its
standard input for one frame: the file's length in decimal, a newline, and
that many bytes. A judge can therefore be started ahead of need (its start-up
paid while another submission is graded) and receive the file only when a
grading begins. The host writes the frame through the engine's attach stream,
which only holders of the Docker socket can reach; the student's processes
never see the judge's stdin (it is replaced with /dev/null once read).

A frame that never comes, or stops short, means the host gave up: the judge
exits with NO_SUBMISSION, the one exit status that proves a container never
graded anything, so leftovers of a host that died can be removed safely.
"""

from __future__ import annotations

import os
import select
import tempfile
import time
from pathlib import Path

NO_SUBMISSION = 75  # EX_TEMPFAIL: this container never received a file
HEADER_MAX = 24  # a length's digits and the newline
# How long a judge started ahead of need waits for its file (the host uses a spare
# only while it is well younger than this).
WAIT_SECONDS = 300.0
TRANSFER_SECONDS = 30.0  # once the first byte is in, the rest must follow this fast


class NoSubmission(Exception):
    """The host closed the stream or went quiet before a whole frame arrived."""


def frame(raw: bytes) -> bytes:
    """What the host writes to the judge's stdin for ``raw``."""
    return b"%d\n" % len(raw) + raw


def read_frame(fd: int, limit: int, wait: float) -> bytes:
    """The file sent on ``fd``: at most ``limit + 1`` of its bytes are kept (enough for
    the source policy to call it too large), the rest is read and dropped.

    ``wait`` bounds the time until the first byte; after that, the whole frame must
    arrive within TRANSFER_SECONDS. Raises NoSubmission otherwise.
    """
    deadline = time.monotonic() + wait
    header = b""
    kept: list[bytes] = []
    kept_size = size = 0
    expected: int | None = None
    while expected is None or size < expected:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoSubmission("no submission arrived in time")
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        want = HEADER_MAX if expected is None else min(1 << 16, expected - size)
        chunk = os.read(fd, want)
        if not chunk:
            raise NoSubmission("the stream closed before the whole file arrived")
        if not header and not size:
            deadline = time.monotonic() + TRANSFER_SECONDS
        if expected is None:
            header += chunk
            if b"\n" not in header:
                if len(header) >= HEADER_MAX:
                    raise NoSubmission("the frame's header is malformed")
                continue
            digits, _, chunk = header.partition(b"\n")
            if not digits.isdigit():
                raise NoSubmission("the frame's header is malformed")
            expected = int(digits)
            if len(chunk) > expected:
                raise NoSubmission("more bytes than the frame announced")
        keep = min(len(chunk), limit + 1 - kept_size)
        if keep > 0:
            kept.append(chunk[:keep])
            kept_size += keep
        size += len(chunk)
    return b"".join(kept)


def private_copy(raw: bytes, where: Path) -> Path:
    """``raw`` written as ``where``'s name in a fresh folder beside it.

    The folder and the file belong to the judge's uid and are read-only to
    everyone else, so the student's uid can read the file but never change,
    move or replace it.
    """
    folder = Path(tempfile.mkdtemp(prefix="submission-", dir=where.parent))
    path = folder / where.name
    path.write_bytes(raw)
    path.chmod(0o444)
    folder.chmod(0o555)
    return path


def detach_stdin() -> None:
    """Point fd 0 at /dev/null: nothing started later inherits the host's stream."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
