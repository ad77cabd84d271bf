"""The kit instructors hand out: ``student_template/`` as students should get it.

The skeleton ``minigpt.py``, the pack (``engine.py``, ``nn.py``), the public
tests with ``check.py``, ``train.py`` with its data and the student README.
Two files are written as the kit is built: the map of the grader's checks
(``grader_checks.json``, from the rubric, so the kit never disagrees with the
grader) and the README's "How to submit" text, which the course may set.
Caches are left out, and the kit is refused if anything of the grader's
hidden side got into the template by mistake (the reference's text, a
hidden-suite module), since a kit is published to every student.
"""

from __future__ import annotations

import stat
import time
import zipfile
from pathlib import Path

from . import paths
from .errors import UsageError
from .kit_checks import MAP_NAME, checks_json

SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
KIT_FOLDER = "minigpt"  # the folder a zip unpacks into

# The README's "How to submit" text sits between these two lines (kept in the kit).
SUBMIT_START = "<!-- submit-text:"
SUBMIT_END = "<!-- end of submit-text -->"
MAX_SUBMIT_CHARS = 5000


def kit_files() -> list[tuple[str, Path]]:
    """(name in the kit, source) for every file of the template meant for students."""
    template = paths.TEMPLATE_DIR
    found = []
    for path in sorted(template.rglob("*")):
        rel = path.relative_to(template)
        if path.is_file() and not SKIP_PARTS.intersection(rel.parts) and path.suffix != ".pyc":
            found.append((rel.as_posix(), path))
    if not found:
        raise UsageError(f"The student template is missing ({template}).")
    return found


def kit_contents(submit_text: str | None = None) -> list[tuple[str, bytes]]:
    """(name in the kit, content) for every file of the kit, as students get it.

    The template's files, with the map of checks written afresh from the
    rubric and, when given, the course's text in the README's "How to submit"
    section.
    """
    contents = {name: path.read_bytes() for name, path in kit_files()}
    contents[MAP_NAME] = checks_json().encode()
    if submit_text is not None:
        readme = contents["README.md"].decode("utf-8")
        contents["README.md"] = with_submit_text(readme, submit_text).encode()
    found = sorted(contents.items())
    _refuse_hidden(found)
    return found


def read_submit_text(path: Path) -> str:
    """The course's "How to submit" text from a UTF-8 file (Markdown), checked."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise UsageError(f"{path} is empty: write how students hand in minigpt.py.")
    if len(text) > MAX_SUBMIT_CHARS:
        raise UsageError(
            f"{path} holds {len(text)} characters; the submit text is at most {MAX_SUBMIT_CHARS}."
        )
    if SUBMIT_START in text or SUBMIT_END in text or "\x00" in text:
        raise UsageError(f"{path} contains the README's section markers or a NUL character.")
    return text


def with_submit_text(readme: str, text: str) -> str:
    """The README with ``text`` as its "How to submit" section (between the markers)."""
    lines = readme.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(SUBMIT_START)]
    ends = [i for i, line in enumerate(lines) if line.startswith(SUBMIT_END)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise UsageError(
            "The template README.md has no single 'How to submit' section between "
            f"{SUBMIT_START!r} and {SUBMIT_END!r} lines."
        )
    body = text.strip() + "\n"
    return "".join([*lines[: starts[0] + 1], body, *lines[ends[0] :]])


def _refuse_hidden(files: list[tuple[str, bytes]]) -> None:
    """Stop if the reference or a hidden-suite module would be handed out."""
    reference = paths.REFERENCE_PATH.read_bytes().strip()
    hidden = {p.read_bytes().strip() for p in paths.SUITE_DIR.glob("*.py")}
    for name, content in files:
        data = content.strip()
        if data and (data == reference or data in hidden):
            raise UsageError(
                f"student_template/{name} is a copy of the grader's hidden files; "
                "remove it before handing out the kit."
            )


def build_kit(out: Path, submit_text: str | None = None) -> Path:
    """Write the kit to ``out``: a ``.zip`` file, or a new (or empty) folder.

    ``submit_text``: the course's "How to submit" instructions (Markdown) for
    the README; the template's default text otherwise.
    """
    files = kit_contents(submit_text)
    if out.suffix.lower() == ".zip":
        return _write_zip(out, files)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder; choose a new one.")
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return out


def _write_zip(out: Path, files: list[tuple[str, bytes]]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    stamp = time.localtime()[:6]
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files:
                info = zipfile.ZipInfo(f"{KIT_FOLDER}/{name}", date_time=stamp)
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out
