"""Defaults of the limits that the judge reads inside the sandbox, as plain constants.

:class:`grader.settings.Limits` is where every limit is described and checked, but
it is a pydantic model, and the judge must not import pydantic to grade a file it
accepts (about 50 ms of CPU at every start-up). The defaults the judge and the
policy need without the host's settings live here, and ``Limits`` takes them from here.
"""

from __future__ import annotations

MAX_SOURCE_BYTES = 100_000  # the largest submission accepted, in bytes
