"""How a hidden test says what went wrong, in words a student can act on.

Tests raise :class:`CheckFailure` (observed vs expected, plus a hint) or let a
:class:`StudentError` from the worker propagate. Anything else escaping a test
is a bug in the grader, reported as an infrastructure error, never as the
student's fault.
"""

from __future__ import annotations

from typing import Any


class CheckFailure(Exception):
    """A property of the submission does not hold."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


class StudentError(Exception):
    """The student's code failed while a probe ran (raised, hung, crashed...)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        super().__init__(describe(record))

    @property
    def kind(self) -> str:
        return str(self.record.get("kind", "exception"))

    @property
    def line(self) -> int | None:
        line = self.record.get("line")
        return int(line) if isinstance(line, int) else None


def expect(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail the current test with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailure(message, hint)


def describe(record: dict[str, Any]) -> str:
    """One sentence for an error record from the worker."""
    kind = record.get("kind", "exception")
    stage = record.get("stage") or "your code"
    message = record.get("message") or ""
    where = ""
    if record.get("line"):
        code = record.get("code")
        where = f" (line {record['line']}" + (f": `{code}`" if code else "") + ")"
    if kind == "not_implemented":
        detail = f": {message}" if message else ""
        return f"{stage} is not implemented yet{detail}"
    if kind == "timeout":
        return f"did not finish within {record.get('seconds', 0):g} s in {stage}"
    if kind == "memory":
        return f"ran out of memory in {stage}{where}"
    if kind == "exit":
        return (
            f"{stage} stopped the process ({message or 'exit() was called'}){where}; "
            "a submission must return values, not exit"
        )
    if kind == "crash":
        return f"the process died in {stage}: {message}"
    if kind == "missing":
        return message
    if kind == "bad_output":
        return f"{stage} returned the wrong kind of data: {message}{where}"
    if kind == "protocol":
        return f"the worker did not follow the grader's protocol: {message}"
    exc_type = record.get("type", "Exception")
    return f"{stage} raised {exc_type}: {message}{where}"


TIMEOUT_HINT = (
    "A correct solution answers this in well under a second: look for a loop that never "
    "ends or work that grows much faster than T*T*D."
)
MEMORY_HINT = "Something builds far more data than a tiny model needs (a list that keeps growing?)."
EXIT_HINT = "Remove exit()/quit() and anything that stops the interpreter from your module."
CRASH_HINT = "Your code made the Python process die; look for deep recursion or exit calls."


def hint_for(kind: str, default: str) -> str:
    """The hint for a worker failure: the failure's own, or the check's concept."""
    return {
        "timeout": TIMEOUT_HINT,
        "memory": MEMORY_HINT,
        "exit": EXIT_HINT,
        "crash": CRASH_HINT,
    }.get(kind, default)
