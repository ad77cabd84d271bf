"""Where the exercise pack lives, and how the pack's tests import it.

Importing this module puts `student_template/` at the front of sys.path, so
`import engine` and `import nn` find the pack's one copy of them (the
reference solution imports them the same way).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from support import REFERENCE as REFERENCE_PATH
from support import REPO
from support import SKELETON as SKELETON_PATH

TEMPLATE_DIR = REPO / "student_template"

if str(TEMPLATE_DIR) not in sys.path:
    sys.path.insert(0, str(TEMPLATE_DIR))


def import_path(name: str, path: Path) -> ModuleType:
    """Import the file at `path` as module `name` (once; later calls reuse it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_reference() -> ModuleType:
    """reference/minigpt.py as the module `minigpt_reference`."""
    return import_path("minigpt_reference", REFERENCE_PATH)


def import_skeleton() -> ModuleType:
    """student_template/minigpt.py (the untouched skeleton) as `minigpt_skeleton`."""
    return import_path("minigpt_skeleton", SKELETON_PATH)
