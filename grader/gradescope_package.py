"""The zip an instructor uploads to Gradescope as the autograder.

Gradescope runs every submission in a fresh container of its own, so the
grader runs there with the process backend. ``setup.sh`` installs Python 3.11
and the grader; ``run_autograder`` grades ``/autograder/submission`` and
writes ``/autograder/results/results.json``. On an infrastructure error it
writes nothing and exits non-zero, which Gradescope shows as an autograder
failure instead of recording a zero.

The zip is made from the grader's own files (``grader.paths``), so it builds
the same from a checkout and from an installed wheel: ``source/`` holds the
package, the reference and the pack in the repository's layout, and a
``pyproject.toml`` that only declares the grader's dependencies (for
``pip install``); the grader itself runs from ``source/``.
"""

from __future__ import annotations

import json
import stat
import time
import zipfile
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from . import paths
from .errors import UsageError

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3.11 >/dev/null 2>&1; then
    apt-get update
    apt-get install -y software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa || true
    apt-get update
    apt-get install -y python3.11 python3.11-venv
fi
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
# Installs the dependencies (source/pyproject.toml declares only them);
# run_autograder imports the grader from the source folder.
/autograder/venv/bin/pip install --quiet /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
RESULTS="$ROOT/results/results.json"
SUBMISSION="$ROOT/submission/minigpt.py"
if [ ! -f "$SUBMISSION" ]; then
    # Accept a single .py file under any name.
    mapfile -t FOUND < <(find "$ROOT/submission" -maxdepth 2 -type f -name '*.py' | sort)
    if [ "${{#FOUND[@]}}" -eq 1 ]; then
        SUBMISSION="${{FOUND[0]}}"
    else
        MESSAGE="Upload exactly one file, minigpt.py (found ${{#FOUND[@]}} .py files)."
        printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$MESSAGE" > "$RESULTS"
        exit 0
    fi
fi
cd "$ROOT/source" || exit 3
# The details (when held back) are printed on stdout, which results.json marks
# with their visibility; the tests and the score stay as --gradescope-visibility says.
PYTHONPATH="$ROOT/source" "$PYTHON" -m grader --sandbox process --format gradescope \\
    --gradescope-visibility {visibility} --gradescope-details {details} \\
    --timeout {timeout} --output "$RESULTS.tmp" "$SUBMISSION"
status=$?
if [ "$status" -eq 3 ]; then
    rm -f "$RESULTS.tmp"   # not gradable: let Gradescope report an autograder failure
    exit 3
fi
mv "$RESULTS.tmp" "$RESULTS"
exit 0
"""

# What the source folder holds besides the package: name in the zip -> file.
SOURCE_FILES = {
    "reference/minigpt.py": paths.REFERENCE_PATH,
    "student_template/engine.py": paths.PACK_FILES[0],
    "student_template/nn.py": paths.PACK_FILES[1],
}
SKIP_PARTS = {"__pycache__", "_data"}

DEPS_PYPROJECT = """# The grader's dependencies only; run_autograder runs the grader from here.
[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"

[project]
name = "minigpt-grader-autograder"
version = "{version}"
requires-python = ">=3.11"
dependencies = {dependencies}

[tool.hatch.build.targets.wheel]
bypass-selection = true
"""


def runtime_dependencies() -> list[str]:
    """The installed grader's own requirements (its dev extras left out)."""
    try:
        found = requires("minigpt-grader") or []
    except PackageNotFoundError:
        raise UsageError("minigpt-grader is not installed (pip install it first).") from None
    return [req for req in found if "extra ==" not in req]


def build_package(
    out: Path,
    visibility: str = "visible",
    details: str = "after_due_date",
    timeout: float = 600.0,
) -> Path:
    """Write the autograder zip to ``out`` and return its path.

    By default the student sees the score and each check's points at once and
    the details after the due date (see :mod:`grader.formats.gradescope`).
    """
    missing = [name for name, source in SOURCE_FILES.items() if not source.is_file()]
    if missing:
        raise UsageError(
            f"This grader installation lacks files the package needs: {', '.join(missing)}.",
            fix="Reinstall minigpt-grader from its wheel, or run from a clone of the repository.",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        _write_zip(tmp, visibility, details, timeout)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out


def _write_zip(tmp: Path, visibility: str, details: str, timeout: float) -> None:
    from .__about__ import __version__

    stamp = time.localtime()[:6]
    pyproject = DEPS_PYPROJECT.format(
        version=__version__, dependencies=json.dumps(runtime_dependencies())
    )
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add_text(archive, "setup.sh", SETUP_SH, stamp, executable=True)
        _add_text(
            archive,
            "run_autograder",
            RUN_AUTOGRADER.format(visibility=visibility, details=details, timeout=timeout),
            stamp,
            executable=True,
        )
        _add_text(archive, "source/pyproject.toml", pyproject, stamp, executable=False)
        for name, source in SOURCE_FILES.items():
            archive.write(source, f"source/{name}")
        for path in sorted(paths.PACKAGE_DIR.rglob("*")):
            rel = path.relative_to(paths.PACKAGE_DIR)
            if path.is_file() and not SKIP_PARTS.intersection(rel.parts):
                archive.write(path, f"source/grader/{rel.as_posix()}")


def _add_text(
    archive: zipfile.ZipFile, name: str, text: str, stamp: tuple[int, ...], executable: bool
) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp[:6])  # type: ignore[arg-type]
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)
