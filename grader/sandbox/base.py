"""What every sandbox backend does, and reading the judge's answer back."""

from __future__ import annotations

import threading
from typing import Protocol

from pydantic import ValidationError

from ..errors import ContractError
from ..models import SCHEMA_VERSION, Feedback
from ..submission import Submission


class Backend(Protocol):
    name: str

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        """Judge one submission; raise InfrastructureError if no verdict came back.

        Setting ``cancel`` stops the run promptly (raising Cancelled) and
        still cleans up; batch grading uses it on Ctrl-C.
        """
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
