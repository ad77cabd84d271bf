"""The feedback JSON: the Feedback model as is (its schema is the contract).

The text is pure ASCII: every other character is a ``\\u`` escape, so a
student's bidi override or C1 control in a message never reaches a terminal
raw when the JSON is printed there; parsed, the values are unchanged.
"""

from __future__ import annotations

import json

from ..models import Feedback


def to_json(feedback: Feedback) -> str:
    return json.dumps(feedback.model_dump(mode="json"), indent=2, ensure_ascii=True) + "\n"


def json_schema() -> str:
    """JSON Schema of the feedback, for platforms that validate what they read."""
    return json.dumps(Feedback.model_json_schema(), indent=2) + "\n"
