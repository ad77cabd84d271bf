"""The Jinja environment every page is rendered with, and its filters for student text.

Autoescape is on for every template, so a value can never add markup; the
``shown`` filters first make invisible and direction-changing characters
visible (the terminal's cleaning), so a name can neither hide nor disguise
itself. Every page is self-contained: its style is inline and its Content
Security Policy loads nothing (``default-src 'none'``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from ..formats.safe_text import terminal_text

# Every page's policy: nothing loads, no form posts, no <base>; style inline only.
# A page with a script adds its hash (script-src); the others run none at all.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def shown(value: object) -> str:
    """One line of student text with nothing invisible or reordering left (escaped later)."""
    return terminal_text(str(value))


def shown_block(value: object) -> str:
    """The same for a block of source: newlines and tabs are kept."""
    return terminal_text(str(value), multiline=True)


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def script_policy(script: str) -> str:
    """The page's policy when it runs exactly ``script`` (allowed by its hash)."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return f"{CSP}; script-src 'sha256-{digest}'"


@functools.cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(shown=shown, shown_block=shown_block, percent=percent, points=points)
    return env
