"""Text that came from a student, made safe to show: in a terminal, in rich, in a spreadsheet.

A file name, a submission name or an exception message the judge quotes can
hold anything: control characters and ANSI escape sequences (which a terminal
obeys: colours, cursor moves, a cleared screen, a hyperlink), bidirectional
overrides (which reorder what is shown: ``evil\\u202eyp.py``), zero-width
characters (two names that look the same), lone surrogates (a file name that
was not UTF-8), and rich markup or spreadsheet formulas. These functions are
pure: they take a string and return a string.

- Control characters (C0, DEL, C1), line and paragraph separators, invisible
  format characters (zero-width space, joiners, BOM...) and bytes of a name
  that was not UTF-8 are shown as visible escapes (``\\x1b``, ``\\u200b``,
  ``\\xff``), so an escape sequence becomes inert text and two names that
  differ still look different.
- Bidirectional embeddings, overrides and isolates are removed.
- Rich markup is never interpreted by the callers: they wrap the result in a
  ``rich.text.Text`` (see :func:`grader.formats.panel.render_panel`).
- XML 1.0 cannot hold some characters at all (controls, U+FFFE, U+FFFF):
  :func:`xml_text` shows those as escapes too, so a JUnit file stays well-formed.
"""

from __future__ import annotations

import re
import unicodedata

# Embeddings, overrides, isolates and the implicit direction marks.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Categories shown as escapes: control, format (zero-width...), surrogate, line/paragraph sep.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list,
# plus the full-width forms some spreadsheets also accept).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

_NOT_PLAIN_ASCII = re.compile(r"[^\x20-\x7e]")
# What terminal_text leaves that XML 1.0 still refuses: the two noncharacters of the BMP.
_NOT_XML = re.compile("[\ufffe\uffff]")


def escape_char(char: str) -> str:
    """The visible escape for one character (a Python-style ``\\x``/``\\u``/``\\U`` escape)."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with nothing a terminal would obey and nothing invisible.

    With ``multiline`` newlines and tabs are kept (a message may span lines);
    otherwise they are escaped too (a file name is one line).
    """

    def fix(match: re.Match[str]) -> str:
        char = match.group()
        if multiline and char in "\n\t":
            return char
        if char in BIDI_CONTROLS:
            return ""
        if unicodedata.category(char) in ESCAPED_CATEGORIES:
            return escape_char(char)
        return char

    return _NOT_PLAIN_ASCII.sub(fix, text)


def xml_text(text: str, *, multiline: bool = True) -> str:
    """``text`` as :func:`terminal_text` makes it, with nothing XML 1.0 refuses left."""
    return _NOT_XML.sub(lambda m: escape_char(m.group()), terminal_text(text, multiline=multiline))


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: no formula, no control character.

    A value starting like a formula gets a leading apostrophe (the OWASP rule
    for CSV injection); control characters then become visible escapes.
    """
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return terminal_text(value)
