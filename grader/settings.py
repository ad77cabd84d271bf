"""Typed settings of the host: the sandbox limits and how to grade.

The judge's own configuration, which crosses into the sandbox as JSON, is
:class:`grader.judge.config.JudgeConfig` (plain data: the judge never imports pydantic).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from .limits import MAX_SOURCE_BYTES
from .models import SandboxKind

# GRADER_IMAGE names another tag: two checkouts on one engine (a release and a branch
# under test) then keep an image each instead of rebuilding one tag in turn.
DEFAULT_IMAGE = os.environ.get("GRADER_IMAGE") or "minigpt-grader:latest"


class Limits(BaseModel):
    """Sandbox limits; every one has a CLI flag (see README, "Limits").

    The one place for each limit's default, its lowest sensible value (``ge``)
    and its help text: the CLI's flags and ranges are built from these fields.
    """

    model_config = ConfigDict(extra="forbid")

    wall_timeout: float = Field(600.0, ge=1, description="Seconds before the whole run is killed.")
    call_timeout: float = Field(
        10.0,
        ge=0.5,
        description="Base seconds for one probe of the student's code (heavy ones get a multiple).",
    )
    import_timeout: float = Field(10.0, ge=0.5, description="Seconds to import the submission.")
    memory_mb: int = Field(1024, ge=128, description="Container memory in MiB (swap equal to it).")
    worker_memory_mb: int = Field(
        512, ge=64, description="Address space of the student's process in MiB."
    )
    cpus: float = Field(1.0, ge=0.1, description="CPU quota of the container.")
    pids: int = Field(64, ge=8, description="Process/thread limit of the container.")
    tmpfs_mb: int = Field(32, ge=1, description="Size of the writable scratch /tmp in MiB.")
    open_files: int = Field(256, ge=16, description="Open files per process in the container.")
    max_source_bytes: int = Field(
        MAX_SOURCE_BYTES, ge=1, description="Largest submission accepted, in bytes."
    )


class GradeSettings(BaseModel):
    """Everything ``grade`` needs besides the file: which sandbox, which limits."""

    model_config = ConfigDict(extra="forbid")

    sandbox: SandboxKind = "docker"
    image: str = DEFAULT_IMAGE
    limits: Limits = Field(default_factory=Limits)
    policy: bool = Field(True, description="static source checks (off only to test the sandbox)")
