"""Building the sandbox image, hermetically, with or without an image registry.

Wheels are downloaded on the host (``pip download``) into ``build/wheels``
and installed inside the build with ``--no-index``. The base image is the
official slim Python image when it is present or can be pulled; otherwise it
is made offline with debootstrap (``scripts/make-base-image.sh``).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .. import paths
from ..__about__ import __version__
from ..errors import InfrastructureError, UsageError
from .docker_backend import LABEL_RECIPE, LABEL_SUITE, LABEL_VERSION, recipe_hash

OFFICIAL_BASE = "python:3.11-slim"
OFFLINE_BASE = "minigpt-grader-base:bookworm"
WHEELS_DIR = paths.PROJECT_DIR / "build" / "wheels"
REQUIREMENTS = paths.PROJECT_DIR / "docker" / "requirements.txt"
BASE_SCRIPT = paths.PROJECT_DIR / "scripts" / "make-base-image.sh"

Log = Callable[[str], None]


def _require_checkout() -> None:
    if not (paths.PROJECT_DIR / "Dockerfile").is_file() or not REQUIREMENTS.is_file():
        raise UsageError(
            "Building the image needs the grader's source checkout (Dockerfile not found).",
            fix="Run grade build-image from a clone of the repository.",
        )


def download_wheels(log: Log) -> None:
    """Fetch the image's wheels for CPython 3.11 on x86-64 Linux (cached in build/wheels)."""
    WHEELS_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.11",
        "--abi",
        "cp311",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "-d",
        str(WHEELS_DIR),
        "pip",
        "-r",
        str(REQUIREMENTS),
    ]
    log("Downloading wheels for the image into build/wheels ...")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise InfrastructureError(
            f"pip download failed: {result.stderr.strip()[-500:]}",
            fix="The image build needs the package index once; later builds reuse build/wheels.",
        )


def choose_base(client: Any, requested: str | None, log: Log) -> str:
    """The requested base, else the official image, else the offline-built one."""
    from docker.errors import DockerException, ImageNotFound

    if requested:
        return requested
    for name in (OFFICIAL_BASE, OFFLINE_BASE):
        try:
            client.images.get(name)
            return name
        except ImageNotFound:
            continue
    try:
        log(f"Pulling {OFFICIAL_BASE} ...")
        client.images.pull(OFFICIAL_BASE)
        return OFFICIAL_BASE
    except DockerException:
        log("No registry reachable: making the base image offline with debootstrap (~1 min).")
    result = subprocess.run(["bash", str(BASE_SCRIPT), OFFLINE_BASE])
    if result.returncode != 0:
        raise InfrastructureError(
            "Could not make the offline base image.",
            fix="Run as root: bash scripts/make-base-image.sh (needs debootstrap and Debian's "
            "mirror), or pass --base IMAGE.",
        )
    return OFFLINE_BASE


def build_image(client: Any, tag: str, base: str | None, log: Log) -> str:
    """Build the grader image; returns the image id."""
    from docker.errors import BuildError, DockerException

    _require_checkout()
    download_wheels(log)
    base_image = choose_base(client, base, log)
    suite = paths.suite_hash()
    recipe = recipe_hash() or "unknown"
    log(f"Building {tag} from {base_image} (suite {suite}, recipe {recipe}) ...")
    try:
        image, _ = client.images.build(
            path=str(paths.PROJECT_DIR),
            tag=tag,
            buildargs={
                "BASE_IMAGE": base_image,
                "GRADER_VERSION": __version__,
                "SUITE_HASH": suite,
                "RECIPE_HASH": recipe,
            },
            network_mode="none",
            rm=True,
            forcerm=True,
            pull=False,
        )
    except BuildError as exc:
        lines = [str(chunk.get("stream", "")).strip() for chunk in exc.build_log]
        tail = "\n".join(line for line in lines if line)[-1500:]
        raise InfrastructureError(f"The image build failed:\n{tail}") from None
    except DockerException as exc:
        raise InfrastructureError(f"The image build failed: {exc}") from None
    labels = image.labels or {}
    expected = {LABEL_SUITE: suite, LABEL_VERSION: __version__, LABEL_RECIPE: recipe}
    if any(labels.get(key) != value for key, value in expected.items()):
        raise InfrastructureError("The built image does not carry the expected labels.")
    _prune_old_builds(client)
    return str(image.id)


def _prune_old_builds(client: Any) -> None:
    """Drop earlier builds of the grader image that lost their tag (they pile up)."""
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):  # housekeeping only
        client.images.prune(filters={"dangling": True, "label": LABEL_SUITE})
