"""The service's click commands: ``grade serve``, ``grade serve token create``,
``grade worker`` and ``grade submit``.

Only click and the standard library are imported here: the service stack
(FastAPI, SQLAlchemy, Celery...) is the optional extra ``service`` and is
imported when one of these commands runs. The CLI's helpers (messages, exit
codes, the limit flags, rendering) are imported from ``grader.cli`` when
needed, since ``grader.cli`` imports this module to register the commands.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from ..errors import EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, GraderError, UsageError
from ..formats import FORMATS
from ..settings import GradeSettings, Limits
from .config import BROKER_ENV, DATA_DIR_ENV, DATABASE_ENV, DEFAULT_QUEUE

DATA_OPTIONS = [
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=DATA_DIR_ENV,
        help=f"Folder of the SQLite database [env {DATA_DIR_ENV}; default: the per-user "
        "data folder, e.g. ~/.local/share/minigpt-grader].",
    ),
    click.option(
        "--database",
        envvar=DATABASE_ENV,
        help=f"SQLAlchemy URL instead of SQLite in --data-dir, e.g. "
        f"postgresql+psycopg://... [env {DATABASE_ENV}].",
    ),
]
LEASE_OPTION = click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a worker's claim on a job lasts unless renewed (every third of it); a job "
    "whose worker vanished is requeued after it.",
)
RETRIES_OPTION = click.option(
    "--retries",
    type=click.IntRange(min=0, max=10),
    default=2,
    show_default=True,
    help="Extra attempts after an infrastructure error (exponential backoff), then the "
    "job is recorded not gradable.",
)
CALLBACK_OPTIONS = [
    click.option(
        "--callback-retries",
        type=click.IntRange(min=0, max=30),
        default=8,
        show_default=True,
        help="Extra attempts to deliver a callback that did not get a 2xx answer.",
    ),
    click.option(
        "--callback-backoff",
        type=click.FloatRange(min=0.01),
        default=2.0,
        show_default=True,
        help="Seconds before the first callback retry; doubled each time (at most 300).",
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
    from .store import Store

    try:
        return Store(database_url(database, data_dir))
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a folder we cannot write
        fail(UsageError(f"Cannot open the service database: {exc}"))


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
    except ImportError as exc:
        fail(
            UsageError(
                f"The service needs the optional dependencies ({exc.name} is missing).",
                fix="pip install -e '.[service]'",
            )
        )


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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Embedded grading threads (without --broker).",
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Jobs waiting before new submissions get 429 (Retry-After).",
)
@LEASE_OPTION
@RETRIES_OPTION
@_with(CALLBACK_OPTIONS)
@QUEUE_OPTION
@click.option(
    "--sweep-interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between passes that requeue expired leases and unsent jobs.",
)
@click.option(
    "--api-processes",
    type=click.IntRange(min=0, max=64),
    default=1,
    show_default=True,
    help="HTTP API processes started beside this one, which grades (embedded), hands jobs "
    "to the broker and sweeps: a deadline burst is accepted without competing with the "
    "grading for one interpreter. 0: everything in this one process.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: Path | None,
    database: str | None,
    broker: str | None,
    workers: int,
    max_queue: int,
    lease_seconds: float,
    retries: int,
    callback_retries: int,
    callback_backoff: float,
    queue: str,
    sweep_interval: float,
    api_processes: int,
    access_log: bool,
    settings: GradeSettings,
) -> None:
    """Run the grading service (HTTP API + workers) until SIGTERM or Ctrl-C.

    \b
    Without --broker it grades here with --workers threads; with --broker it
    queues jobs for `grade worker` processes. The limits and sandbox flags are
    those of `grade` and apply to every job it accepts. With --api-processes N,
    N processes answer HTTP and this one grades, hands over and sweeps.
    Tokens: grade serve token create COURSE
    """
    if ctx.invoked_subcommand is not None:
        return
    _need_extra()
    import uvicorn

    from .app import create_app
    from .config import WorkerConfig
    from .dispatch import GRADING_NICENESS, CeleryDispatcher, Dispatcher, EmbeddedDispatcher
    from .runtime import ServiceRuntime

    _logging()
    store = _open_store(data_dir, database)
    config = WorkerConfig(
        lease_seconds=lease_seconds,
        retries=retries,
        callback_retries=callback_retries,
        callback_backoff=callback_backoff,
    )
    dispatcher: Dispatcher
    if broker:
        # A supervisor's sends to the broker yield to its API processes (see CeleryDispatcher).
        dispatcher = CeleryDispatcher(
            store, broker, queue, niceness=GRADING_NICENESS if api_processes else 0
        )
        mode = f"jobs to Celery workers on queue {queue!r}"
    else:
        _check_sandbox(settings)
        dispatcher = EmbeddedDispatcher(store, config, workers)
        mode = f"{workers} embedded workers, {settings.sandbox} sandbox"
    runtime = ServiceRuntime(
        store,
        dispatcher,
        settings,
        config,
        max_queue=max_queue,
        sweep_interval=sweep_interval,
        role="supervisor" if api_processes else "all",
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        "timeout_graceful_shutdown": 10,
    }
    started = f"{mode}; database {store.engine.url!r}"
    if not api_processes:
        server = uvicorn.Config(create_app(runtime), **options)
        socket = _listen(server)
        _say_listening(socket, host, started)
        uvicorn.Server(server).run(sockets=[socket])
        store.close()
        return
    _serve_with_api_processes(runtime, api_processes, broker, queue, options, started)


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


def _serve_with_api_processes(runtime: Any, processes: int, broker: str | None, queue: str,
                              options: dict[str, Any], started: str) -> None:  # fmt: skip
    """uvicorn's own supervisor runs the API processes (spawned, sharing one listening
    socket, restarted if one dies); this process grades (or feeds the broker) and sweeps.

    SIGTERM or Ctrl-C: uvicorn stops the API processes first (each finishes the
    requests it has), then the runtime stops like a one-process service does:
    running gradings are given back to the queue, queued jobs stay queued.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .app import API_PROCESS_ENV, api_process_spec

    os.environ[API_PROCESS_ENV] = api_process_spec(
        runtime.store.url, runtime.settings, runtime.max_queue, runtime.dispatcher.mode,
        broker, queue,
    )  # fmt: skip
    config = uvicorn.Config(
        "grader.service.app:api_process_app", factory=True, workers=processes, **options
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


@serve_command.group("token")
def token_group() -> None:
    """Bearer tokens (one course each)."""


@token_group.command("create")
@click.argument("course")
@_with(DATA_OPTIONS)
@click.pass_context
def token_create_command(
    ctx: click.Context, course: str, data_dir: Path | None, database: str | None
) -> None:
    """Make a bearer token for COURSE (created if new) and print it.

    The token is shown once and stored only hashed. The course's callback
    signing secret (the HMAC key of X-Grader-Signature) is printed on stderr.
    """
    _need_extra()
    # `grade serve --data-dir D token create C` works too: the serve group's options.
    serve = ctx.parent.parent.params if ctx.parent and ctx.parent.parent else {}
    store = _open_store(data_dir or serve.get("data_dir"), database or serve.get("database"))
    if not course.strip() or len(course) > 200 or not course.isprintable():
        fail(UsageError("COURSE must be printable text of at most 200 characters."))
    token, secret = store.create_token(course)
    store.close()
    click.echo(token)
    say(f"Course {course!r}: callback signing secret {secret}")


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
@LEASE_OPTION
@RETRIES_OPTION
@_with(CALLBACK_OPTIONS)
@QUEUE_OPTION
@click.option(
    "--image", default=None, help="Check this sandbox image at start (default: the usual one)."
)
@click.option("--no-image-check", is_flag=True, help="Do not check the Docker image at start.")
@click.option(
    "--nice",
    type=click.IntRange(0, 19),
    default=10,
    show_default=True,
    help="CPU niceness of the worker's gradings (the threads that run the sandbox, and "
    "process-sandbox judges): on a machine shared with `grade serve`, the API answers a "
    "burst first. Its database work keeps normal priority. 0: normal.",
)
def worker_command(
    broker: str,
    data_dir: Path | None,
    database: str | None,
    concurrency: int,
    name: str | None,
    lease_seconds: float,
    retries: int,
    callback_retries: int,
    callback_backoff: float,
    queue: str,
    image: str | None,
    no_image_check: bool,
    nice: int,
) -> None:
    """Grade jobs of a `grade serve --broker` service (Celery worker; SIGTERM drains).

    It needs the broker and the service's database (--database; on the API's own
    machine the default SQLite file is shared). Each job is graded with the
    sandbox and limits the service recorded for it.
    """
    _need_extra()
    from .celery_app import WorkerRuntime, run_worker
    from .config import WorkerConfig

    _logging()
    if not no_image_check:
        _check_sandbox(GradeSettings(image=image) if image else GradeSettings())
    store = _open_store(data_dir, database)
    config = WorkerConfig(
        lease_seconds=lease_seconds,
        retries=retries,
        callback_retries=callback_retries,
        callback_backoff=callback_backoff,
    )
    runtime = WorkerRuntime(store, config, queue, nice)
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
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="panel",
              show_default=True, help="As for grade (with --wait).")  # fmt: skip
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
    import json

    return json.dumps(job, indent=2, ensure_ascii=True)


def service_commands() -> list[click.Command]:
    """The commands to add to ``grade`` (called once by ``grader.cli``)."""
    from ..cli import settings_options

    if not any(p.name == "sandbox" for p in serve_command.params):
        settings_options()(serve_command)  # the same sandbox and limit flags as `grade`
    return [serve_command, worker_command, submit_command]
