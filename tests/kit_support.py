"""The student kit as a student runs it: a copy of the template, its check.py, its helpers.

Shared by the pack's tests (``test_pack.py``), the kit's (``test_kit.py``,
``test_public_tests.py``) and ``benchmarks/bench_kit.py``. Importing it puts
``student_template/`` on sys.path (through ``pack_paths``), as the pack's own
tests expect.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pack_paths

TEMPLATE = pack_paths.TEMPLATE_DIR


def student_env() -> dict[str, str]:
    """The environment of a student who only installed pytest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def copy_pack(folder: Path, solution: Path | None = None, source: str | None = None) -> Path:
    """A fresh copy of student_template/ in folder/pack, with another minigpt.py if given."""
    dest = folder / "pack"
    shutil.copytree(
        TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".venv")
    )
    if solution is not None:
        shutil.copyfile(solution, dest / "minigpt.py")
    if source is not None:
        (dest / "minigpt.py").write_text(source, encoding="utf-8")
    return dest


def run_check(
    pack: Path, *args: str, python: str = sys.executable, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python check.py ARGS`` in the pack, as a student runs it."""
    return subprocess.run(
        [python, "check.py", *args],
        cwd=pack,
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def public_results(pack: Path) -> dict[str, Any]:
    """The JSON of ``check.py --json`` (every test's outcome, message and covered checks)."""
    proc = run_check(pack, "--json")
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"check.py --json printed no JSON:\n{proc.stdout}{proc.stderr}"
        ) from None
    return result


def results_for(sources: Mapping[str, str], root: Path, jobs: int = 2) -> dict[str, dict[str, Any]]:
    """check.py's results for each named minigpt.py source, ``jobs`` packs at a time."""

    def one(item: tuple[str, str]) -> tuple[str, dict[str, Any]]:
        name, source = item
        folder = root / name.replace(":", "_")
        folder.mkdir()
        return name, public_results(copy_pack(folder, source=source))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, sources.items()))


def import_check() -> ModuleType:
    """The template's check.py, imported as ``kit_check``."""
    return pack_paths.import_path("kit_check", TEMPLATE / "check.py")


def import_helpers() -> ModuleType:
    """The public tests' helpers (tests/helpers.py), imported as ``kit_helpers``."""
    return pack_paths.import_path("kit_helpers", TEMPLATE / "tests" / "helpers.py")
