"""The zip an instructor uploads to Gradescope as the autograder.

Gradescope runs every submission in a fresh container of its own, so the
grader runs there with the process backend. ``setup.sh`` installs Python 3.11
and the grader; ``run_autograder`` grades ``/autograder/submission`` and
writes ``/autograder/results/results.json``. On an infrastructure error it
writes nothing and exits non-zero, which Gradescope shows as an autograder
failure instead of recording a zero.
"""

from __future__ import annotations

import stat
import time
import zipfile
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
# Installs the dependencies; run_autograder imports the grader from the source folder.
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
PYTHONPATH="$ROOT/source" "$PYTHON" -m grader --sandbox process --format gradescope \\
    --gradescope-visibility {visibility} --timeout {timeout} \\
    --output "$RESULTS.tmp" "$SUBMISSION"
status=$?
if [ "$status" -eq 3 ]; then
    rm -f "$RESULTS.tmp"   # not gradable: let Gradescope report an autograder failure
    exit 3
fi
mv "$RESULTS.tmp" "$RESULTS"
exit 0
"""

# What the source folder in the zip needs to pip-install and run the grader.
SOURCE_FILES = (
    "pyproject.toml",
    "README.md",
    "reference/minigpt.py",
    "student_template/engine.py",
    "student_template/nn.py",
)


def build_package(out: Path, visibility: str = "after_due_date", timeout: float = 600.0) -> Path:
    """Write the autograder zip to ``out`` and return its path."""
    missing = [name for name in SOURCE_FILES if not (paths.PROJECT_DIR / name).is_file()]
    if missing:
        raise UsageError(
            f"Building the Gradescope package needs the grader's source checkout "
            f"(missing: {', '.join(missing)})."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        _write_zip(tmp, visibility, timeout)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out


def _write_zip(tmp: Path, visibility: str, timeout: float) -> None:
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add_text(archive, "setup.sh", SETUP_SH, stamp, executable=True)
        _add_text(
            archive,
            "run_autograder",
            RUN_AUTOGRADER.format(visibility=visibility, timeout=timeout),
            stamp,
            executable=True,
        )
        for name in SOURCE_FILES:
            archive.write(paths.PROJECT_DIR / name, f"source/{name}")
        for path in sorted(paths.PACKAGE_DIR.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(paths.PROJECT_DIR).as_posix()
                archive.write(path, f"source/{rel}")


def _add_text(
    archive: zipfile.ZipFile, name: str, text: str, stamp: tuple[int, ...], executable: bool
) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp[:6])  # type: ignore[arg-type]
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)
