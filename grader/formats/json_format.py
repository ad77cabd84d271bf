"""The feedback JSON: the Feedback model as is (its schema is the contract)."""

from __future__ import annotations

import json

from ..models import Feedback


def to_json(feedback: Feedback) -> str:
    return feedback.model_dump_json(indent=2) + "\n"


def json_schema() -> str:
    """JSON Schema of the feedback, for platforms that validate what they read."""
    return json.dumps(Feedback.model_json_schema(), indent=2) + "\n"
