"""The service's click commands: ``grade serve`` (and its ``token``, ``secret`` and
``events`` subcommands), ``grade worker`` and ``grade submit``.

Only click, pydantic and the standard library are imported here: the service
stack (FastAPI, SQLAlchemy, Celery...) is the optional extra ``service`` and is
imported when one of these commands runs. Every knob's flag is derived from its
field in :mod:`grader.service.config` (default, range, help). The CLI's helpers
(messages, exit codes, the limit flags, rendering) are imported from
``grader.cli`` when needed, since ``grader.cli`` imports this module to register
the commands.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Any, NoReturn

import annotated_types
import click
from pydantic import BaseModel

from ..errors import EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, GraderError, UsageError
from ..settings import GradeSettings, Limits
from .config import (
    BROKER_ENV,
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
        help=f"Folder of the SQLite database, made private (0700) [env {DATA_DIR_ENV}; default: "
        "the per-user data folder, e.g. ~/.local/share/minigpt-grader].",
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


def _with(options: list[Any]) -> Any:
    def decorate(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def fail(error: GraderError) -> NoReturn:
    from ..cli import fail as cli_fail

    cli_fail(error)


def say(text: str, **style: Any) -> None:
    from ..cli import say as cli_say

    cli_say(text, **style)


def _open_store(data_dir: Path | None, database: str | None) -> Any:
    from .config import database_url
    from .db import Store

    try:
        return Store(database_url(database, data_dir))
    except GraderError as exc:
        fail(exc)
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a folder we cannot write
        fail(UsageError(f"Cannot open the service database: {exc}"))


def _serve_store(ctx: click.Context, data_dir: Path | None, database: str | None) -> Any:
    """The store of a `grade serve` subcommand: its own flags, else the serve group's
    (`grade serve --data-dir D token create C` works too)."""
    _need_extra()
    node: click.Context | None = ctx
    while node is not None and node.command.name != "serve":
        node = node.parent
    serve = node.params if node is not None else {}
    return _open_store(data_dir or serve.get("data_dir"), database or serve.get("database"))


def _check_sandbox(settings: Any) -> None:
    if settings.sandbox == "docker":
        from ..sandbox.docker_backend import check_image, docker_client

        try:
            check_image(docker_client(), settings.image)
        except GraderError as exc:
            fail(exc)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _need_extra() -> None:
    try:
        import celery  # noqa: F401
        import fastapi  # noqa: F401
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


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@click.group("serve", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@_with(DATA_OPTIONS)
@click.option(
    "--broker",
    envvar=BROKER_ENV,
    help=f"Celery broker URL (redis://...): hand jobs to `grade worker` processes instead "
    f"of grading here [env {BROKER_ENV}].",
)
@knobs(ServiceConfig, SERVICE_KNOBS)
@knobs(WorkerConfig, WORKER_KNOBS)
@CALLBACK_ALLOW_OPTION
@QUEUE_OPTION
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: Path | None,
    database: str | None,
    broker: str | None,
    queue: str,
    access_log: bool,
    settings: GradeSettings,
    **values: Any,
) -> None:
    """Run the grading service (HTTP API + workers) until SIGTERM or Ctrl-C.

    \b
    Without --broker it grades here with --workers threads; with --broker it
    queues jobs for `grade worker` processes. The limits and sandbox flags are
    those of `grade` and apply to every job it accepts. With --api-processes N,
    N processes answer HTTP and this one grades, hands over and sweeps.
    Tokens: grade serve token create COURSE (and list, revoke, rotate).
    """
    if ctx.invoked_subcommand is not None:
        return
    _need_extra()
    import uvicorn

    from .http import create_app
    from .runtime import service_runtime

    _logging()
    config = service_config(values)
    if not broker:
        _check_sandbox(settings)
    store = _open_store(data_dir, database)
    runtime = service_runtime(store, settings, config, broker, queue)
    mode = (
        f"jobs to Celery workers on queue {queue!r}"
        if broker
        else f"{config.workers} embedded workers, {settings.sandbox} sandbox"
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        "timeout_graceful_shutdown": 10,
    }
    started = f"{mode}; database {store.db.engine.url!r}"
    if not config.api_processes:
        server = uvicorn.Config(create_app(runtime), **options)
        socket = _listen(server)
        _say_listening(socket, host, started)
        uvicorn.Server(server).run(sockets=[socket])
        store.close()
        return
    _serve_with_api_processes(runtime, broker, queue, options, started)


def _listen(config: Any) -> Any:
    """The listening socket; a port in use is our message and exit code, not a traceback
    (uvicorn logs the cause, then exits)."""
    try:
        return config.bind_socket()
    except SystemExit:
        fail(
            GraderError(
                f"grade serve cannot listen on {config.host}:{config.port} (see the error above).",
                fix="Stop what listens there, or pick another --port (--port 0: any free port).",
            )
        )


def _say_listening(socket: Any, host: str, started: str) -> None:
    """The address really bound (``--port 0`` picks a free port) and how jobs are graded."""
    say(f"grade serve: http://{host}:{socket.getsockname()[1]} ({started})")


def _serve_with_api_processes(runtime: Any, broker: str | None, queue: str,
                              options: dict[str, Any], started: str) -> None:  # fmt: skip
    """uvicorn's own supervisor runs the API processes (spawned, sharing one listening
    socket, restarted if one dies); this process grades (or feeds the broker) and sweeps.

    SIGTERM or Ctrl-C: uvicorn stops the API processes first (each finishes the
    requests it has), then the runtime stops like a one-process service does:
    running gradings are given back to the queue, queued jobs stay queued.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .http.api_process import API_PROCESS_ENV, api_process_spec

    os.environ[API_PROCESS_ENV] = api_process_spec(
        runtime.store.url, runtime.settings, runtime.config, runtime.dispatcher.mode, broker, queue
    )
    config = uvicorn.Config(
        "grader.service.http.api_process:api_process_app",
        factory=True,
        workers=runtime.config.api_processes,
        **options,
    )
    socket = _listen(config)
    _say_listening(socket, options["host"], started)
    runtime.start()
    try:
        Multiprocess(config, sockets=[socket]).run()
    finally:
        runtime.stop()
        runtime.store.close()
        socket.close()
        say("grade serve: shutdown complete")


EXPIRES_OPTION = click.option(
    "--expires-in",
    type=DurationType(),
    default=None,
    help="The token stops working after this long (3600, 90m, 12h, 30d; default: never).",
)
FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _course(course: str) -> str:
    if not course.strip() or len(course) > 200 or not course.isprintable():
        fail(UsageError("COURSE must be printable text of at most 200 characters."))
    return course


@serve_command.group("token")
def token_group() -> None:
    """Bearer tokens, one course each: create, list, revoke, rotate."""


@token_group.command("create")
@click.argument("course")
@EXPIRES_OPTION
@_with(DATA_OPTIONS)
@click.pass_context
def token_create_command(ctx: click.Context, course: str, expires_in: float | None,
                         data_dir: Path | None, database: str | None) -> None:  # fmt: skip
    """Make a bearer token for COURSE (made if new) and print it.

    The token is shown once and stored only hashed. The course's callback signing
    secret (Standard Webhooks, whsec_...) is printed on stderr.
    """
    store = _serve_store(ctx, data_dir, database)
    expires = time.time() + expires_in if expires_in else None
    token, secret = store.tokens.create(_course(course), expires)
    store.close()
    click.echo(token)
    say(f"Course {course!r}: callback signing secret {secret}")


@token_group.command("list")
@click.argument("course")
@FORMAT_OPTION
@_with(DATA_OPTIONS)
@click.pass_context
def token_list_command(ctx: click.Context, course: str, fmt: str, data_dir: Path | None,
                       database: str | None) -> None:  # fmt: skip
    """COURSE's tokens: id, the first characters, made, expires, state."""
    store = _serve_store(ctx, data_dir, database)
    tokens = store.tokens.of_course(course)
    store.close()
    now = time.time()
    if fmt == "json":
        rows = [{"id": t.id, "prefix": t.prefix, "created_at": t.created_at,
                 "expires_at": t.expires_at, "revoked_at": t.revoked_at, "state": t.state(now)}
                for t in tokens]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'id':>5}  {'token':<16} {'created':<26} {'expires':<26} state")
    for t in tokens:
        click.echo(f"{t.id:>5}  {t.prefix + '...':<16} {_when(t.created_at):<26} "
                   f"{_when(t.expires_at):<26} {t.state(now)}")  # fmt: skip


@token_group.command("revoke")
@click.argument("course")
@click.argument("token_ids", nargs=-1, type=int)
@click.option("--all", "revoke_all", is_flag=True, help="Every token of COURSE.")
@_with(DATA_OPTIONS)
@click.pass_context
def token_revoke_command(ctx: click.Context, course: str, token_ids: tuple[int, ...],
                         revoke_all: bool, data_dir: Path | None,
                         database: str | None) -> None:  # fmt: skip
    """Revoke tokens of COURSE by id (see `token list`), or --all: 401 from the next request."""
    if bool(token_ids) == revoke_all:
        fail(UsageError("Name the token ids to revoke, or give --all (not both)."))
    store = _serve_store(ctx, data_dir, database)
    try:
        count = store.tokens.revoke(course, None if revoke_all else list(token_ids))
    finally:
        store.close()
    say(f"Course {course!r}: {count} token(s) revoked.")


@token_group.command("rotate")
@click.argument("course")
@click.option("--overlap", type=DurationType(), default=3600.0, show_default=True,
              help="How long COURSE's other tokens go on working (0: stop now).")  # fmt: skip
@EXPIRES_OPTION
@_with(DATA_OPTIONS)
@click.pass_context
def token_rotate_command(ctx: click.Context, course: str, overlap: float,
                         expires_in: float | None, data_dir: Path | None,
                         database: str | None) -> None:  # fmt: skip
    """Make a new token for COURSE (printed) and end its others after --overlap."""
    store = _serve_store(ctx, data_dir, database)
    try:
        store.tokens.of_course(course) or fail(
            UsageError(f"No course {course!r} in this database.")
        )
        expires = time.time() + expires_in if expires_in else None
        token = store.tokens.rotate(course, overlap, expires)
    finally:
        store.close()
    click.echo(token)
    say(f"Course {course!r}: its other tokens stop working in {overlap:g} s.")


@serve_command.group("secret")
def secret_group() -> None:
    """The courses' callback signing secrets."""


@secret_group.command("rotate")
@click.argument("course")
@click.option("--overlap", type=DurationType(), default=86400.0, show_default=True,
              help="How long the old secret goes on signing beside the new one.")  # fmt: skip
@_with(DATA_OPTIONS)
@click.pass_context
def secret_rotate_command(ctx: click.Context, course: str, overlap: float,
                          data_dir: Path | None, database: str | None) -> None:  # fmt: skip
    """Make a new signing secret for COURSE (printed); callbacks carry a signature under
    each of the two secrets for --overlap, so receivers switch without missing one."""
    store = _serve_store(ctx, data_dir, database)
    try:
        secret = store.tokens.rotate_secret(course, overlap)
    except GraderError as exc:
        fail(exc)
    finally:
        store.close()
    click.echo(secret)


@serve_command.command("events")
@click.argument("job")
@FORMAT_OPTION
@_with(DATA_OPTIONS)
@click.pass_context
def events_command(ctx: click.Context, job: str, fmt: str, data_dir: Path | None,
                   database: str | None) -> None:  # fmt: skip
    """What happened to JOB (an id), in order: accepted, claimed, released, requeued,
    infrastructure errors, done, callbacks..."""
    store = _serve_store(ctx, data_dir, database)
    try:
        record = store.reads.job(job)
        events = store.reads.events(job) if record else None
    finally:
        store.close()
    if record is None or events is None:
        fail(UsageError(f"No job {job[:64]!r} in this database."))
    if fmt == "json":
        rows = [{"at": e.at, "kind": e.kind, "worker": e.worker, "detail": e.detail}
                for e in events]  # fmt: skip
        click.echo(json.dumps({"job": job, "course": record.course, "status": record.status,
                               "events": rows}, indent=2))  # fmt: skip
        return
    click.echo(f"job {job} ({record.course}, {record.student or 'no student'}): {record.status}")
    for e in events:
        extra = " ".join(x for x in (e.worker or "", e.detail or "") if x)
        click.echo(f"{_when(e.at)}  {e.kind:<24} {extra}")


@click.command("worker")
@click.option(
    "--broker", envvar=BROKER_ENV, required=True, help=f"Celery broker URL [env {BROKER_ENV}]."
)
@_with(DATA_OPTIONS)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Jobs graded at once by this worker.",
)
@click.option("--name", default=None, help="Celery node name (default: grader-PID@host).")
@knobs(WorkerConfig, WORKER_KNOBS)
@CALLBACK_ALLOW_OPTION
@QUEUE_OPTION
@click.option(
    "--image", default=None, help="Check this sandbox image at start (default: the usual one)."
)
@click.option("--no-image-check", is_flag=True, help="Do not check the Docker image at start.")
def worker_command(broker: str, data_dir: Path | None, database: str | None, concurrency: int,
                   name: str | None, queue: str, image: str | None, no_image_check: bool,
                   **values: Any) -> None:  # fmt: skip
    """Grade jobs of a `grade serve --broker` service (Celery worker; SIGTERM drains).

    It needs the broker and the service's database (--database; on the API's own
    machine the default SQLite file is shared). Each job is graded with the
    sandbox and limits the service recorded for it. At start it puts back in the
    queue the jobs of this host's workers that are gone, and removes their containers.
    """
    _need_extra()
    from .celery_app import WorkerRuntime, run_worker

    _logging()
    if not no_image_check:
        _check_sandbox(GradeSettings(image=image) if image else GradeSettings())
    store = _open_store(data_dir, database)
    runtime = WorkerRuntime(store, worker_config(values), queue)
    run_worker(runtime, broker, name or f"grader-{os.getpid()}@%h", concurrency)
    store.close()


@click.command("submit")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--server", envvar="GRADER_SERVER", required=True, help="e.g. https://grader.example")
@click.option("--token", envvar="GRADER_TOKEN", required=True, help="The course's bearer token.")
@click.option("--student", default=None, help="Label the job with this student id.")
@click.option("--callback-url", default=None, help="URL the service POSTs the feedback to.")
@click.option("--idempotency-key", default=None, help="Resubmitting with it never duplicates.")
@click.option("--wait", is_flag=True, help="Wait for the verdict; print and exit like `grade`.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=900.0,
    show_default=True,
    help="Seconds to keep trying (busy service, waiting for the verdict).",
)
@click.option("--format", "fmt", type=click.Choice(["panel", "json", "gradescope"]),
              default="panel", show_default=True)  # fmt: skip
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--gradescope-visibility",
    type=click.Choice(["visible", "hidden", "after_due_date", "after_published"]),
    default="visible",
    show_default=True,
)
@click.option(
    "--max-source-bytes",
    type=click.IntRange(min=1),
    default=Limits.model_fields["max_source_bytes"].default,
    show_default=True,
    help="Largest file sent (the server has its own limit too).",
)
def submit_command(
    file: Path,
    server: str,
    token: str,
    student: str | None,
    callback_url: str | None,
    idempotency_key: str | None,
    wait: bool,
    timeout: float,
    fmt: str,
    output: Path | None,
    gradescope_visibility: str,
    max_source_bytes: int,
) -> None:
    """Send FILE to a grading service; with --wait, print its verdict like `grade`.

    \b
    Exit codes (with --wait): those of grade: 0 passed, 1 issues, 2 usage
    error (bad token...), 3 no verdict (service unreachable, not gradable).
    Without --wait: 0 once the job is accepted; its URL is printed.
    """
    from ..cli import _emit, exit_code
    from ..models import Feedback
    from ..policy import too_large
    from ..submission import load_submission
    from .client import FileTooLarge, ServiceClient

    deadline = time.monotonic() + timeout
    try:
        submission = load_submission(file, max_source_bytes)
        if submission.truncated:
            raise FileTooLarge("too large", max_source_bytes)
        with ServiceClient(server, token) as client:
            job = client.submit(submission, deadline, student, callback_url, idempotency_key)
            if not wait:
                if fmt == "json":
                    click.echo(_job_json(job))
                else:
                    click.echo(job["url"])
                    say(f"Submitted: job {job['id']} is {job['status']}.")
                return
            job = client.wait(job["id"], deadline)
    except KeyboardInterrupt:
        click.secho("Interrupted: the job (if sent) goes on on the server.", fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except FileTooLarge as exc:
        if not wait:
            fail(UsageError(f"{file} is larger than the limit of {exc.limit} bytes."))
        size = max(file.stat().st_size, exc.limit + 1)
        feedback = Feedback.from_error(too_large(size, exc.limit))
        feedback.submission = file.name
        _emit(feedback, fmt, output, gradescope_visibility)
        sys.exit(exit_code(feedback))
    except GraderError as exc:
        fail(exc)
    from ..models import Feedback

    feedback = Feedback.model_validate(job["feedback"])
    _emit(feedback, fmt, output, gradescope_visibility)
    code = exit_code(feedback)
    if code == EXIT_INFRASTRUCTURE:
        say(f"Not gradable: {feedback.summary}", fg="red")
    sys.exit(code)


def _job_json(job: dict[str, Any]) -> str:
    return json.dumps(job, indent=2, ensure_ascii=True)


def service_commands() -> list[click.Command]:
    """The commands to add to ``grade`` (called once by ``grader.cli``)."""
    from ..cli import settings_options

    if not any(p.name == "sandbox" for p in serve_command.params):
        settings_options()(serve_command)  # the same sandbox and limit flags as `grade`
    return [serve_command, worker_command, submit_command]
