"""How a hidden test says what went wrong, in words a student can act on.

Tests raise :class:`CheckFailure` (observed vs expected, plus a hint) or let a
:class:`StudentError` from the worker propagate. Anything else escaping a test
is a bug in the grader, reported as an infrastructure error, never as the
student's fault. Error records come from the student's process, so
:func:`error_record` rebuilds each one from capped, typed fields before any
of it is used.
"""

from __future__ import annotations

from typing import Any

MAX_TEXT = 300
KINDS = frozenset(
    {
        "exception",
        "not_implemented",
        "missing",
        "memory",
        "recursion",
        "exit",
        "crash",
        "timeout",
        "bad_output",
        "bad_answer",
        "shape",
        "aborted",
        "protocol",
    }
)


class CheckFailure(Exception):
    """A property of the submission does not hold."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


class StudentError(Exception):
    """The student's code failed while the judge asked it something (raised, hung, died...)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        super().__init__(describe(record))

    @property
    def kind(self) -> str:
        return str(self.record.get("kind", "exception"))

    @property
    def line(self) -> int | None:
        first = self.record.get("first")
        return first[0] if first else None

    @property
    def stage(self) -> str:
        return str(self.record.get("stage", ""))

    @property
    def retriable(self) -> bool:
        """A timeout or a death by a signal the judge did not send: worth one re-run."""
        return self.kind == "timeout" or bool(self.record.get("signal"))

    @property
    def cause(self) -> tuple[str, str, int | None]:
        """What makes two failures the same failure: kind, message and line."""
        return (self.kind, str(self.record.get("message", "")), self.line)


def bad_answer(message: str) -> StudentError:
    """An answer of the wrong type or shape: that check fails, saying so."""
    return StudentError({"kind": "bad_answer", "message": clean_text(message), "stage": ""})


def bad_shape(message: str) -> StudentError:
    """An output whose shape is not the API's: told in full once (under the first check
    that met it, `shapes` in the rubric's order), and as the same error everywhere else
    whatever the sizes in the message (see verdict.check_results)."""
    return StudentError({"kind": "shape", "message": clean_text(message), "stage": ""})


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Text from the student's process, safe to keep: a str, valid UTF-8, one line, capped.

    JSON can carry lone surrogates ("\\ud800"), which no UTF-8 output can encode:
    they become U+FFFD here, so the verdict can always be written.
    """
    text = value if isinstance(value, str) else ""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _frame(value: Any) -> list[Any] | None:
    if not isinstance(value, list) or len(value) != 3:
        return None
    line, name, code = value
    if isinstance(line, bool) or not isinstance(line, int) or not 0 < line < 10**7:
        return None
    return [line, clean_text(name, 80), clean_text(code, 120)]


# Kinds only the judge decides: a worker that reports one is forging.
JUDGE_KINDS = frozenset({"timeout", "crash", "bad_answer", "shape"})


def error_record(raw: dict[str, Any], *, from_worker: bool = False) -> dict[str, Any]:
    """A clean error record: known kind, capped strings.

    From the worker (``from_worker``), a kind only the judge may decide, or the
    ``signal`` mark (which buys a re-run), is not believed.
    """
    kind = raw.get("kind")
    if from_worker and kind in JUDGE_KINDS:
        kind = "protocol"
    frames = raw.get("frames")
    clean_frames = (
        [f for f in (_frame(x) for x in frames[:3]) if f] if isinstance(frames, list) else []
    )
    seconds = raw.get("seconds")
    return {
        "kind": kind if isinstance(kind, str) and kind in KINDS else "exception",
        "type": clean_text(raw.get("type"), 80) or "Exception",
        "message": clean_text(raw.get("message")),
        "stage": clean_text(raw.get("stage"), 120),
        "frames": clean_frames,
        "first": _frame(raw.get("first")),
        "seconds": _seconds(seconds),
        "signal": raw.get("signal") is True and not from_worker,
    }


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        return min(max(float(value), 0.0), 1e6)
    except OverflowError:
        return 0.0


def expect(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail the current test with ``message`` unless ``condition`` holds."""
    if condition is not True:
        raise CheckFailure(message, hint)


def _where(record: dict[str, Any]) -> str:
    """' (line 12: `code`, called from line 40)' for the student's lines, if any."""
    first = record.get("first")
    frames = record.get("frames") or []
    last = frames[-1] if frames else None
    if not last:
        return ""
    text = f" (line {last[0]}" + (f": `{last[2]}`" if last[2] else "")
    if first and first[0] != last[0]:
        text += f", reached from line {first[0]} in {first[1]}"
    return text + ")"


def describe(record: dict[str, Any]) -> str:
    """One sentence for an error record."""
    kind = record.get("kind", "exception")
    stage = record.get("stage") or "your code"
    message = record.get("message") or ""
    where = _where(record)
    if kind == "not_implemented":
        if "not implemented" in message:
            return f"{message}{where}"
        detail = f": {message}" if message else ""
        return f"{stage} is not implemented yet{detail}{where}"
    if kind == "timeout":
        if message:  # stopped: no CPU was used, the reason says why it could not finish
            return f"did not finish in {stage}: {message}"
        return f"did not finish within {record.get('seconds', 0):g} s of CPU time in {stage}"
    if kind == "memory":
        return f"ran out of memory in {stage}{where}"
    if kind == "recursion":
        return f"{stage} recursed too deeply (RecursionError){where}"
    if kind == "exit":
        return (
            f"{stage} stopped the process ({message or 'exit() was called'}){where}; "
            "a submission must return values, not exit"
        )
    if kind == "crash":
        return f"the process died in {stage}: {message}"
    if kind in ("missing", "bad_answer", "shape"):
        return message
    if kind == "bad_output":
        return f"{stage} returned the wrong kind of data: {message}{where}"
    if kind == "aborted":  # the wrapped model's reason for refusing a call of generate's
        return message or f"{stage} called the model in a way the grader refused"
    if kind == "protocol":
        return f"the worker did not follow the grader's protocol: {message}"
    return f"{stage} raised {record.get('type', 'Exception')}: {message}{where}"


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
        "recursion": CRASH_HINT,
    }.get(kind, default)
