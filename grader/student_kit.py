"""The kit instructors hand out: ``student_template/`` as students should get it.

The skeleton ``minigpt.py``, the pack (``engine.py``, ``nn.py``), the public
tests, ``train.py`` with its data and the student README. Caches are left
out, and the kit is refused if anything of the grader's hidden side got into
the template by mistake (the reference's text, a hidden-suite module), since
a kit is published to every student.
"""

from __future__ import annotations

import shutil
import stat
import time
import zipfile
from pathlib import Path

from . import paths
from .errors import UsageError

SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
KIT_FOLDER = "minigpt"  # the folder a zip unpacks into


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
    _refuse_hidden(found)
    return found


def _refuse_hidden(files: list[tuple[str, Path]]) -> None:
    """Stop if the reference or a hidden-suite module would be handed out."""
    reference = paths.REFERENCE_PATH.read_bytes().strip()
    hidden = {p.read_bytes().strip() for p in paths.SUITE_DIR.glob("*.py")}
    for name, path in files:
        data = path.read_bytes().strip()
        if data and (data == reference or data in hidden):
            raise UsageError(
                f"student_template/{name} is a copy of the grader's hidden files; "
                "remove it before handing out the kit."
            )


def build_kit(out: Path) -> Path:
    """Write the kit to ``out``: a ``.zip`` file, or a new (or empty) folder."""
    files = kit_files()
    if out.suffix.lower() == ".zip":
        return _write_zip(out, files)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder; choose a new one.")
    out.mkdir(parents=True, exist_ok=True)
    for name, source in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return out


def _write_zip(out: Path, files: list[tuple[str, Path]]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    stamp = time.localtime()[:6]
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, source in files:
                info = zipfile.ZipInfo(f"{KIT_FOLDER}/{name}", date_time=stamp)
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, source.read_bytes())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out
