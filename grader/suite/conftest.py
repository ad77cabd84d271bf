"""Hidden-suite fixtures: the submission, as the judge plugin hands it over.

This suite runs only inside the judge (``grader.judge.runner``), which
registers :class:`grader.judge.plugin.JudgePlugin` before collection.
"""

from __future__ import annotations

import pytest

from grader.judge.plugin import STUDENT
from grader.judge.remote import Student


@pytest.fixture(scope="session")
def student(pytestconfig: pytest.Config) -> Student:
    """The submission, probed through the worker process."""
    return pytestconfig.stash[STUDENT]
