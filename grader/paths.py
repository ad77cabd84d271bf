"""Where the grader's files live, in a checkout and in the sandbox image alike.

The pack (``engine.py``, ``nn.py``) exists once, in ``student_template/``; the
reference, the hidden suite and the worker are found next to the package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
TEMPLATE_DIR = PROJECT_DIR / "student_template"
REFERENCE_PATH = PROJECT_DIR / "reference" / "minigpt.py"
SUITE_DIR = PACKAGE_DIR / "suite"
WORKER_DIR = PACKAGE_DIR / "worker"
PACK_FILES = (TEMPLATE_DIR / "engine.py", TEMPLATE_DIR / "nn.py")


def suite_files() -> list[Path]:
    """Every file whose content decides a verdict, in a fixed order."""
    judge_dir = PACKAGE_DIR / "judge"
    files = [REFERENCE_PATH, *PACK_FILES]
    for folder in (SUITE_DIR, WORKER_DIR, judge_dir):
        files.extend(sorted(folder.glob("*.py")))
    files.extend([PACKAGE_DIR / "policy.py", PACKAGE_DIR / "rubric.py", PACKAGE_DIR / "models.py"])
    return files


def suite_hash() -> str:
    """A short digest of everything that decides a verdict (labels the image)."""
    digest = hashlib.sha256()
    for path in suite_files():
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
