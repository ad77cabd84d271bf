"""The flags that several ``grade`` commands share: the sandbox, its limits and the
image (``grade``, ``batch``, ``selftest``, ``serve``), ``--jobs`` and Gradescope's
visibilities. A limit's flag takes its default, range and help from its Limits field.
"""

from __future__ import annotations

import functools
import os
from typing import Any, get_args

import annotated_types
import click

from ..formats.gradescope import Visibility
from ..models import SandboxKind
from ..settings import DEFAULT_IMAGE, GradeSettings, Limits

JOBS_OPTION = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Submissions graded in parallel.",
)
VISIBILITY = click.Choice(get_args(Visibility))

# flag -> Limits field; the default, the range and the help come from the field itself.
LIMIT_FLAGS: dict[str, str] = {
    "--timeout": "wall_timeout",
    "--test-timeout": "call_timeout",
    "--import-timeout": "import_timeout",
    "--memory": "memory_mb",
    "--worker-memory": "worker_memory_mb",
    "--cpus": "cpus",
    "--pids": "pids",
    "--tmpfs": "tmpfs_mb",
    "--open-files": "open_files",
    "--max-source-bytes": "max_source_bytes",
}


def limit_type(field: str) -> click.ParamType:
    """The click range of a Limits field, read from its pydantic constraint (``ge``)."""
    info = Limits.model_fields[field]
    low = next((rule.ge for rule in info.metadata if isinstance(rule, annotated_types.Ge)), None)
    if info.annotation is int:
        return click.IntRange(min=None if low is None else int(low))  # type: ignore[call-overload]
    return click.FloatRange(min=None if low is None else float(low))  # type: ignore[arg-type]


SETTINGS_OPTIONS = (*LIMIT_FLAGS.values(), "sandbox", "image", "unsafe_skip_policy")


def settings_options(sandbox_default: str = "docker") -> Any:
    """The sandbox, its limits and the image as flags (documented in the README); the
    command receives them as one ready ``settings: GradeSettings``."""

    def decorate(function: Any) -> Any:
        function = receiving_settings(function)
        for option in reversed(_limit_option_list(sandbox_default)):
            function = option(function)
        return function

    return decorate


def receiving_settings(function: Any) -> Any:
    """``function`` called with the settings flags turned into ``settings=GradeSettings``."""

    @functools.wraps(function)
    def with_settings(*args: Any, **kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in SETTINGS_OPTIONS}
        return function(*args, settings=settings_from(options), **kwargs)

    return with_settings


def _limit_option_list(sandbox_default: str) -> list[Any]:
    options = [
        click.option(
            flag,
            field,
            type=limit_type(field),
            default=Limits.model_fields[field].default,
            show_default=True,
            help=Limits.model_fields[field].description,
        )
        for flag, field in LIMIT_FLAGS.items()
    ]
    options += [
        click.option(
            "--sandbox",
            type=click.Choice(get_args(SandboxKind)),
            default=sandbox_default,
            show_default=True,
            help="docker isolates the code; process runs it locally without isolation.",
        ),
        click.option(
            "--image", default=DEFAULT_IMAGE, show_default=True, help="Grader image (docker)."
        ),
        click.option(
            "--unsafe-skip-policy",
            is_flag=True,
            help="Skip the static source checks (only to test the sandbox itself).",
        ),
    ]
    return options


def settings_from(options: dict[str, Any]) -> GradeSettings:
    limits = Limits(**{field: options[field] for field in LIMIT_FLAGS.values()})
    return GradeSettings(
        sandbox=options["sandbox"],
        image=options["image"],
        limits=limits,
        policy=not options["unsafe_skip_policy"],
    )
