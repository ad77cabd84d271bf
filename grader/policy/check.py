"""The policy's entry points: check a submission's bytes, list a tree's violations.

:func:`check_source` is what the host and the judge call: size, NUL bytes,
UTF-8, emptiness and syntax first, then :func:`find_violations`; a refusal is an
:class:`~grader.models.ErrorInfo` listing the first violations with their lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..limits import MAX_SOURCE_BYTES
from .checker import _Checker
from .modules import ALLOWED_MODULES, PACK_MODULES, STDLIB_NAMES
from .pack import _pack_info
from .scope import Violation, parse

if TYPE_CHECKING:
    from ..models import ErrorInfo, ErrorKind

MAX_LISTED = 5
# The pack checked against when no pack_dir is given: where paths finds it (a checkout, a
# wheel's grader/_data/, the image); the judge always passes its own (JudgeConfig.pack_dir).
DEFAULT_PACK_DIR = paths.TEMPLATE_DIR


def check_source(
    raw: bytes, *, max_bytes: int = MAX_SOURCE_BYTES, pack_dir: Path | None = None
) -> ErrorInfo | None:
    """Return why ``raw`` may not run (syntax or policy), or None when it may."""
    if len(raw) > max_bytes:
        return too_large(len(raw), max_bytes)
    if b"\0" in raw:
        return _error(
            kind="policy",
            message="The file contains NUL bytes: it looks binary, not Python source. "
            "Submit the text file minigpt.py.",
        )
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _error(
            kind="policy",
            message=f"The file is not valid UTF-8 (byte {exc.start} on line {line}). "
            "Save it as UTF-8 text.",
            line=line,
        )
    if not source.strip():
        return _error(
            kind="policy",
            message="The file is empty: start from the template's minigpt.py.",
        )
    try:
        tree = parse(source, filename="minigpt.py")
    except SyntaxError as exc:
        return _error(
            kind="syntax",
            message=f"Syntax error on line {exc.lineno}: {exc.msg}. "
            "Run `python minigpt.py` locally to see it.",
            line=exc.lineno,
        )
    except (RecursionError, MemoryError):
        return _too_deep()
    try:
        violations = find_violations(tree, pack_dir=pack_dir)
    except (RecursionError, MemoryError):
        return _too_deep()
    if not violations:
        return None
    return _as_error(violations)


def _error(kind: ErrorKind, message: str, line: int | None = None) -> ErrorInfo:
    """A refusal as the result model's ErrorInfo, imported only now: the judge checks
    every file, and the files it accepts must not cost it pydantic's import."""
    from ..models import ErrorInfo

    return ErrorInfo(kind=kind, message=message, line=line)


def too_large(size: int, max_bytes: int) -> ErrorInfo:
    return _error(
        kind="policy",
        message=f"The file is {size:,} bytes; submissions are limited to {max_bytes:,} bytes. "
        "Submit only minigpt.py, without data or output pasted in.",
    )


def _too_deep() -> ErrorInfo:
    return _error(
        kind="policy",
        message="The code is nested too deeply to be read: split long expressions "
        "and deeply nested blocks into smaller functions.",
    )


def find_violations(tree: ast.AST, *, pack_dir: Path | None = None) -> list[Violation]:
    """Every policy violation in ``tree``, in source order."""
    pack = _pack_info(str(pack_dir if pack_dir is not None else DEFAULT_PACK_DIR))
    checker = _Checker(tree, pack)
    checker.run()
    unique = {(v.line, v.message): v for v in checker.violations}
    return sorted(unique.values(), key=lambda v: v.line)


def _as_error(violations: list[Violation]) -> ErrorInfo:
    shown = violations[:MAX_LISTED]
    lines = "; ".join(f"line {v.line}: {v.message}" for v in shown)
    more = f" (and {len(violations) - len(shown)} more)" if len(violations) > len(shown) else ""
    if any(v.topic == "import" for v in shown):
        rule = f"Solutions may import only {allowed_modules_text()}."
    else:
        rule = (
            "Submissions may use plain Python, their own classes and the allowed modules' "
            "public names; evaluating code, files, reflection and internals are off limits."
        )
    return _error(
        kind="policy",
        message=f"Not allowed in a submission: {lines}{more}. {rule}",
        line=shown[0].line,
    )


def allowed_modules_text(modules: Iterable[str] = ALLOWED_MODULES) -> str:
    """The allowed imports as one line, for messages and docs."""
    return ", ".join(sorted(m for m in modules if m != "__future__"))


def module_names(module: str, pack_dir: Path | None = None) -> frozenset[str]:
    """The names a submission may use from ``module`` (``mod.name`` or ``from mod import``)."""
    if module in PACK_MODULES:
        return _pack_info(str(pack_dir or DEFAULT_PACK_DIR)).names[module]
    return STDLIB_NAMES.get(module, frozenset())
