"""The service's click commands: ``grade serve`` (its ``token``, ``secret`` and
``events`` subcommands are in :mod:`.admin_commands`), ``grade worker`` and
``grade submit``.

Nothing of the service stack is imported here: FastAPI, SQLAlchemy, Celery... are
the optional extra ``service``, imported when one of these commands runs. Every
knob's flag is derived from its field in :mod:`grader.service.config` (default,
range, help; :mod:`.cli_support`). Messages, exit codes, the printed verdict and the
sandbox and limit flags are those of every ``grade`` command (:mod:`grader.cli.output`,
:mod:`grader.cli.options`); :mod:`grader.cli.app` adds these commands to ``grade``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..cli.options import settings_options
from ..cli.output import emit, exit_code, fail, say
from ..errors import EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, GraderError, UsageError
from ..formats import FORMATS
from ..models import Feedback
from ..settings import GradeSettings, Limits
from .admin_commands import events_command, secret_group, token_group
from .cli_support import (
    CALLBACK_ALLOW_OPTION,
    DATA_OPTIONS,
    QUEUE_OPTION,
    SERVICE_KNOBS,
    WORKER_KNOBS,
    check_sandbox,
    knobs,
    need_extra,
    open_store,
    service_config,
    setup_logging,
    with_options,
    worker_config,
)
from .config import BROKER_ENV, ServiceConfig, WorkerConfig
from .page_commands import links_command, lti_group


@click.group("serve", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@with_options(DATA_OPTIONS)
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
@settings_options()  # the same sandbox and limit flags as `grade`
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
    Student pages: grade serve links COURSE; LTI 1.3: grade serve lti add.
    """
    if ctx.invoked_subcommand is not None:
        return
    need_extra()
    import uvicorn

    from .http import create_app
    from .runtime import service_runtime

    setup_logging()
    config = service_config(values)
    if not broker:
        check_sandbox(settings)
    store = open_store(data_dir, database)
    runtime = service_runtime(store, settings, config, broker, queue, data_dir)
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
        runtime.store.url,
        runtime.settings,
        runtime.config,
        runtime.dispatcher.mode,
        broker,
        queue,
        runtime.data_dir,
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


@click.command("worker")
@click.option(
    "--broker", envvar=BROKER_ENV, required=True, help=f"Celery broker URL [env {BROKER_ENV}]."
)
@with_options(DATA_OPTIONS)
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
    need_extra()
    from .celery_app import WorkerRuntime, run_worker

    setup_logging()
    if not no_image_check:
        check_sandbox(GradeSettings(image=image) if image else GradeSettings())
    store = open_store(data_dir, database)
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
        emit(feedback, fmt, output, gradescope_visibility)
        sys.exit(exit_code(feedback))
    except GraderError as exc:
        fail(exc)
    feedback = Feedback.model_validate(job["feedback"])
    emit(feedback, fmt, output, gradescope_visibility)
    code = exit_code(feedback)
    if code == EXIT_INFRASTRUCTURE:
        say(f"Not gradable: {feedback.summary}", fg="red")
    sys.exit(code)


def _job_json(job: dict[str, Any]) -> str:
    return json.dumps(job, indent=2, ensure_ascii=True)


serve_command.add_command(token_group)
serve_command.add_command(secret_group)
serve_command.add_command(events_command)
serve_command.add_command(lti_group)
serve_command.add_command(links_command)


def service_commands() -> list[click.Command]:
    """The commands to add to ``grade`` (by :mod:`grader.cli.app`)."""
    return [serve_command, worker_command, submit_command]
