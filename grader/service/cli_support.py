"""What the service's commands share: flags derived from the config models, option
types (address ranges, durations), the data options, and opening the store. Messages
and errors are printed through :mod:`grader.cli.output`, as every ``grade`` command's.

Only click, pydantic and the standard library at import (see :mod:`.commands`).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import annotated_types
import click
from pydantic import BaseModel

from ..cli.output import fail
from ..errors import GraderError, UsageError
from .config import (
    CALLBACK_ALLOW_ENV,
    DATA_DIR_ENV,
    DATABASE_ENV,
    DEFAULT_QUEUE,
    ServiceConfig,
    WorkerConfig,
)

SERVICE_KNOBS = {
    "--workers": "workers",
    "--max-queue": "max_queue",
    "--max-queue-per-course": "max_queue_per_course",
    "--supersede": "supersede",
    "--sweep-interval": "sweep_interval",
    "--api-processes": "api_processes",
}
WORKER_KNOBS = {
    "--lease": "lease_seconds",
    "--retries": "retries",
    "--callback-retries": "callback_retries",
    "--callback-backoff": "callback_backoff",
    "--nice": "nice",
}
SHOWN_DEFAULTS = {"workers": "number of cores"}


def knob(model: type[BaseModel], field: str, flag: str) -> Any:
    """The click option of a config field: its type and range, default and help from the field."""
    info = model.model_fields[field]
    bounds: dict[str, float] = {}
    for rule in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if hasattr(rule, name) and isinstance(rule, annotated_types.BaseMetadata):
                bounds[name] = getattr(rule, name)
    kind = int if "int" in str(info.annotation) else float
    if info.annotation is bool:
        return click.option(flag, field, is_flag=True, help=info.description)
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    ranged: click.ParamType
    if kind is int:
        ranged = click.IntRange(min=_int(low), max=_int(high))
    else:
        ranged = click.FloatRange(min=low, max=high, min_open="gt" in bounds)
    default = None if info.default_factory is not None else info.default
    return click.option(
        flag,
        field,
        type=ranged,
        default=default,
        show_default=SHOWN_DEFAULTS.get(field, default is not None),
        help=info.description,
    )


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def knobs(model: type[BaseModel], flags: dict[str, str]) -> Any:
    def decorate(function: Any) -> Any:
        for flag, field in reversed(flags.items()):
            function = knob(model, field, flag)(function)
        return function

    return decorate


def worker_config(values: dict[str, Any]) -> WorkerConfig:
    picked = {f: values.pop(f) for f in WORKER_KNOBS.values()}
    allow = values.pop("callback_allow")
    return WorkerConfig(**{k: v for k, v in picked.items() if v is not None}, callback_allow=allow)


def service_config(values: dict[str, Any]) -> ServiceConfig:
    picked = {f: values.pop(f) for f in SERVICE_KNOBS.values()}
    given = {k: v for k, v in picked.items() if v is not None}
    return ServiceConfig(**given, worker=worker_config(values))


class NetworkType(click.ParamType):
    name = "CIDR"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return ip_network(str(value), strict=False)
        except ValueError as exc:
            self.fail(f"{value!r} is not an address range ({exc})", param, ctx)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationType(click.ParamType):
    """Seconds, or a number with a unit: 90s, 30m, 12h, 7d."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, float):
            return value
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if found is None:
            self.fail(f"{value!r} is not a duration such as 3600, 90s, 30m, 12h or 7d", param, ctx)
        return float(found.group(1)) * DURATION_UNITS[found.group(2) or "s"]


CALLBACK_ALLOW_OPTION = click.option(
    "--callback-allow",
    "callback_allow",
    type=NetworkType(),
    multiple=True,
    envvar=CALLBACK_ALLOW_ENV,
    help=f"{WorkerConfig.model_fields['callback_allow'].description} [env {CALLBACK_ALLOW_ENV}, "
    "space-separated]",
)
DATA_OPTIONS = [
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=DATA_DIR_ENV,
        help=f"Folder of the SQLite database and the LTI tool's key pair, made private (0700) "
        f"[env {DATA_DIR_ENV}; default: the per-user data folder, e.g. "
        "~/.local/share/minigpt-grader].",
    ),
    click.option(
        "--database",
        envvar=DATABASE_ENV,
        help=f"SQLAlchemy URL instead of SQLite in --data-dir, e.g. "
        f"postgresql+psycopg://... [env {DATABASE_ENV}].",
    ),
]
QUEUE_OPTION = click.option(
    "--queue", default=DEFAULT_QUEUE, show_default=True, help="Broker queue name."
)


def with_options(options: list[Any]) -> Any:
    def decorate(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def open_store(data_dir: Path | None, database: str | None) -> Any:
    from .config import database_url
    from .db import Store

    try:
        return Store(database_url(database, data_dir))
    except GraderError as exc:
        fail(exc)
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a folder we cannot write
        fail(UsageError(f"Cannot open the service database: {exc}"))


def serve_store(ctx: click.Context, data_dir: Path | None, database: str | None) -> Any:
    """The store of a `grade serve` subcommand: its own flags, else the serve group's
    (`grade serve --data-dir D token create C` works too)."""
    need_extra()
    node: click.Context | None = ctx
    while node is not None and node.command.name != "serve":
        node = node.parent
    serve = node.params if node is not None else {}
    return open_store(data_dir or serve.get("data_dir"), database or serve.get("database"))


def check_sandbox(settings: Any) -> None:
    if settings.sandbox == "docker":
        from ..sandbox.docker_backend import check_image, docker_client

        try:
            check_image(docker_client(), settings.image)
        except GraderError as exc:
            fail(exc)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def need_extra() -> None:
    try:
        import celery  # noqa: F401
        import fastapi  # noqa: F401
        import jwt  # noqa: F401
        import pylti1p3  # noqa: F401
        import sqlalchemy  # noqa: F401
        import standardwebhooks  # noqa: F401
    except ImportError as exc:
        fail(
            UsageError(
                f"The service needs the optional dependencies ({exc.name} is missing).",
                fix="pip install 'minigpt-grader[service]' (in a checkout: pip install -e "
                "'.[service]')",
            )
        )


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
