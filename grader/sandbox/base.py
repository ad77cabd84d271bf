"""What every sandbox backend does, and reading the judge's answer back.

Everything that comes out of a sandbox is read with a cap: the judge's answer
(one JSON line on its stdout) up to ANSWER_LIMIT bytes, more is a failure; of
its stderr only the last STDERR_TAIL bytes are kept, for messages. A flood on
either never grows the host's memory.
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol

from pydantic import ValidationError

from ..__about__ import SCHEMA_VERSION
from ..errors import ContractError, SandboxFailed
from ..models import Feedback
from ..submission import Submission

ANSWER_LIMIT = 4 << 20  # the Feedback line; a real one is a few KiB
STDERR_TAIL = 4 << 10  # the end of the judge's stderr, quoted when it fails


class Capture:
    """Bytes from an untrusted stream, at most ``limit`` of them kept.

    ``keep="head"`` keeps the first bytes and notes that more came
    (``overflowed``); ``keep="tail"`` keeps the last ones. ``total`` counts
    everything that was fed, kept or not.
    """

    def __init__(self, limit: int, keep: Literal["head", "tail"] = "head") -> None:
        self.limit = limit
        self.keep = keep
        self.total = 0
        self._data = bytearray()

    @property
    def overflowed(self) -> bool:
        return self.total > self.limit

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.keep == "head":
            room = self.limit - len(self._data)
            if room > 0:
                self._data += chunk[:room]
        else:
            self._data += chunk[-self.limit :]
            del self._data[: -self.limit]

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    def text(self) -> str:
        return self._data.decode("utf-8", "replace")


def answer_too_large(capture: Capture) -> SandboxFailed:
    return SandboxFailed(
        f"The judge's answer was too large (more than {capture.limit >> 20} MiB); "
        "a real verdict is a few KiB, so this run cannot be trusted."
    )


def stderr_lines(capture: Capture, count: int = 5) -> str:
    """The last lines of what the judge wrote on stderr, for a failure message."""
    text = capture.text().strip()
    if capture.total > capture.limit:
        text = text.split("\n", 1)[-1]  # the first kept line is probably cut
    return "\n".join(text.splitlines()[-count:])


class Backend(Protocol):
    name: str

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        """Judge one submission; raise InfrastructureError if no verdict came back.

        Setting ``cancel`` stops the run promptly (raising Cancelled) and
        still cleans up; batch grading uses it on Ctrl-C.
        """
        ...

    def close(self) -> None:
        """Release what the backend holds (a Docker client's connections)."""
        ...


def parse_judge_output(stdout: str) -> Feedback:
    """The judge prints one JSON line; anything else is a broken contract."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ContractError("The judge returned no result.")
    try:
        feedback = Feedback.model_validate_json(lines[-1])
    except ValidationError as exc:
        raise ContractError(
            f"The judge's result does not match the contract: {exc.error_count()} error(s).",
            fix="Rebuild the image so host and sandbox run the same grader: grade build-image",
        ) from None
    if feedback.schema_version != SCHEMA_VERSION:
        raise ContractError(
            f"The judge speaks schema {feedback.schema_version}, the host {SCHEMA_VERSION}.",
            fix="Rebuild the image: grade build-image",
        )
    return feedback
