"""Building the sandbox image, hermetically, with or without an image registry.

Wheels are downloaded on the host (``pip download``) into a cache
(``paths.wheels_cache_dir()``) and installed inside the build with
``--no-index``. The build context is assembled in a temporary folder from the
grader's own files (``grader.paths``), in the repository's layout, so the
same Dockerfile builds the same image from a checkout and from an installed
wheel. The base image is the official slim Python image when it is present or
can be pulled; otherwise it is made offline with debootstrap
(``scripts/make-base-image.sh``).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from ..__about__ import __version__
from ..errors import InfrastructureError, UsageError
from .docker_backend import LABEL_RECIPE, LABEL_SUITE, LABEL_VERSION

OFFICIAL_BASE = "python:3.11-slim"
OFFLINE_BASE = "minigpt-grader-base:bookworm"

Log = Callable[[str], None]


def _require_recipe() -> None:
    missing = [name for name, source in paths.image_files().items() if not source.is_file()]
    if missing:
        raise UsageError(
            f"This grader installation lacks the image's files ({', '.join(missing)}).",
            fix="Reinstall minigpt-grader from its wheel, or run from a clone of the repository.",
        )


def assemble_context(folder: Path, wheels: Path) -> None:
    """Lay out the build context in ``folder``: every file of ``paths.image_files()``
    (the same list the image's label hashes), and the wheels."""
    for name, source in paths.image_files().items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copytree(wheels, folder / "build" / "wheels")


def download_wheels(log: Log) -> Path:
    """Fetch the image's wheels for CPython 3.11 on x86-64 Linux (cached); returns the folder."""
    wheels = paths.wheels_cache_dir()
    wheels.mkdir(parents=True, exist_ok=True)
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
        str(wheels),
        "pip",
        "-r",
        str(paths.IMAGE_REQUIREMENTS),
    ]
    log(f"Downloading wheels for the image into {wheels} ...")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise InfrastructureError(
            f"pip download failed: {result.stderr.strip()[-500:]}",
            fix=f"The image build needs the package index once; later builds reuse {wheels}.",
        )
    return wheels


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
    result = subprocess.run(["bash", str(paths.BASE_IMAGE_SCRIPT), OFFLINE_BASE])
    if result.returncode != 0:
        raise InfrastructureError(
            "Could not make the offline base image.",
            fix="Run as root: bash scripts/make-base-image.sh (needs debootstrap and Debian's "
            "mirror), or pass --base IMAGE.",
        )
    return OFFLINE_BASE


def build_image(client: Any, tag: str, base: str | None, log: Log) -> str:
    """Build the grader image; returns the image id."""
    _require_recipe()
    wheels = download_wheels(log)
    base_image = choose_base(client, base, log)
    suite = paths.suite_hash()
    recipe = paths.image_hash()
    log(f"Building {tag} from {base_image} (suite {suite}, files {recipe}) ...")
    with tempfile.TemporaryDirectory(prefix="minigpt-image-") as folder:
        assemble_context(Path(folder), wheels)
        image = _build(client, Path(folder), tag, base_image, suite, recipe)
    labels = image.labels or {}
    expected = {LABEL_SUITE: suite, LABEL_VERSION: __version__, LABEL_RECIPE: recipe}
    if any(labels.get(key) != value for key, value in expected.items()):
        raise InfrastructureError("The built image does not carry the expected labels.")
    _prune_old_builds(client)
    return str(image.id)


def _build(client: Any, context: Path, tag: str, base_image: str, suite: str, recipe: str) -> Any:
    from docker.errors import BuildError, DockerException

    try:
        image, _ = client.images.build(
            path=str(context),
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
    return image


def _prune_old_builds(client: Any) -> None:
    """Drop earlier builds of the grader image that lost their tag (they pile up)."""
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):  # housekeeping only
        client.images.prune(filters={"dangling": True, "label": LABEL_SUITE})
