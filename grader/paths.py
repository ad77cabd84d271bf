"""Where the grader's files live: in a checkout, in an installed wheel, in the image.

This module alone decides it. The package's own folder is found through
``importlib.resources``. The data files that sit outside the package in the
repository (the reference, the student template with the pack, the image
recipe, the selftest bank) travel in a wheel under ``grader/_data/``, laid
out as in the repository (``pyproject.toml`` maps them at build time). When
``grader/_data`` is absent (a checkout, an editable install, the sandbox
image) they are read from the folder that holds the package, as before.

The pack (``engine.py``, ``nn.py``) exists once, in ``student_template/``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path


def _package_dir() -> Path:
    root = files("grader")
    if not isinstance(root, Path):  # a zipped install: pytest and docker need real files
        raise RuntimeError("minigpt-grader must be installed as files, not from a zip archive")
    return root.resolve()


PACKAGE_DIR = _package_dir()
# The folder that holds the package: what a judge interpreter puts on sys.path.
PROJECT_DIR = PACKAGE_DIR.parent
_WHEEL_DATA = PACKAGE_DIR / "_data"
IN_WHEEL = _WHEEL_DATA.is_dir()
# The repository's layout for everything outside the package (see the docstring).
DATA_DIR = _WHEEL_DATA if IN_WHEEL else PROJECT_DIR

TEMPLATE_DIR = DATA_DIR / "student_template"
REFERENCE_PATH = DATA_DIR / "reference" / "minigpt.py"
SUITE_DIR = PACKAGE_DIR / "suite"
WORKER_DIR = PACKAGE_DIR / "worker"
PACK_FILES = (TEMPLATE_DIR / "engine.py", TEMPLATE_DIR / "nn.py")
BANK_DIR = DATA_DIR / "tests" / "solutions"

# What `grade build-image` puts into the image's build context.
DOCKERFILE = DATA_DIR / "Dockerfile"
IMAGE_REQUIREMENTS = DATA_DIR / "docker" / "requirements.txt"
BASE_IMAGE_SCRIPT = DATA_DIR / "scripts" / "make-base-image.sh"


def wheels_cache_dir() -> Path:
    """Where the image's downloaded wheels are kept between builds.

    ``build/wheels`` in a checkout (as before); for an installed wheel, the
    user's cache folder, never site-packages.
    """
    if not IN_WHEEL:
        return PROJECT_DIR / "build" / "wheels"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "minigpt-grader" / "wheels"


def suite_files() -> list[Path]:
    """Every file whose content decides a verdict, in a fixed order.

    The hidden suite with its settings (suite.ini), the judge (its JudgeConfig
    included), the worker, the pack, the reference, the policy, the rubric, the
    result model with the schema version the judge writes (``__about__``), the
    limits' defaults (settings, limits) and the /proc reader (CPU time decides
    timeouts).
    """
    judge_dir = PACKAGE_DIR / "judge"
    files = [REFERENCE_PATH, *PACK_FILES]
    for folder in (SUITE_DIR, WORKER_DIR, judge_dir, PACKAGE_DIR / "policy"):
        files.extend(sorted(folder.glob("*.py")))
    files.append(SUITE_DIR / "suite.ini")
    files.extend(
        PACKAGE_DIR / name
        for name in (
            "procfs.py",
            "rubric.py",
            "models.py",
            "settings.py",
            "limits.py",
            "__about__.py",
        )
    )
    return files


HOST_ONLY = ("service", "report")  # grader subpackages the sandbox image leaves out


def image_files() -> dict[str, Path]:
    """Every file the sandbox image is built from, by its name in the build context.

    The one list: the image build copies exactly these (plus the downloaded
    wheels), and their digest labels the image, so an image built from any
    other version of any of them is stale, the entrypoints and the Dockerfile
    included. The host-only subpackages (:data:`HOST_ONLY`: the HTTP service,
    the class report) never run in the sandbox, so they are not in it: editing
    them leaves the image current.
    """
    found = {
        "Dockerfile": DOCKERFILE,
        "docker/requirements.txt": IMAGE_REQUIREMENTS,
        "reference/minigpt.py": REFERENCE_PATH,
        "student_template/engine.py": PACK_FILES[0],
        "student_template/nn.py": PACK_FILES[1],
    }
    for path in sorted(PACKAGE_DIR.rglob("*")):
        parts = path.relative_to(PACKAGE_DIR).parts
        skipped = parts[0] in HOST_ONLY or any(
            p in ("__pycache__", "_data") or p.startswith(".") for p in parts
        )
        if path.is_file() and not skipped and path.suffix != ".pyc":
            found["grader/" + "/".join(parts)] = path
    return found


def logical_name(path: Path) -> str:
    """A file's name as in the repository (``reference/minigpt.py``, ``grader/...``).

    The suite hash is made of these names, so a wheel, a checkout and the
    image agree on it for the same files.
    """
    for root in (DATA_DIR, PROJECT_DIR):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    raise ValueError(f"{path} is not one of the grader's files")


def _digest(named: Iterable[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in named:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def suite_hash() -> str:
    """A short digest of everything that decides a verdict (stamped on every Feedback).

    Computed once per process: the files do not change under a running grader.
    """
    return _digest((logical_name(path), path) for path in suite_files())


@functools.cache
def image_hash() -> str:
    """A short digest of every file the image is built from (the staleness check)."""
    return _digest(image_files().items())
