"""Hidden-suite fixtures: the two subjects the judge plugin hands over.

This suite runs only inside the judge (``grader.judge.runner``), which
registers :class:`grader.judge.plugin.JudgePlugin` before collection.
"""

from __future__ import annotations

import pytest

from grader.judge.plugin import SUBJECTS
from grader.judge.subjects import Subject


@pytest.fixture(scope="session")
def student(pytestconfig: pytest.Config) -> Subject:
    """The submission, probed through the worker process."""
    return pytestconfig.stash[SUBJECTS]["student"]


@pytest.fixture(scope="session")
def reference(pytestconfig: pytest.Config) -> Subject:
    """The reference solution, probed inside the judge."""
    return pytestconfig.stash[SUBJECTS]["reference"]
