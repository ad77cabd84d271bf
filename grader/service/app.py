"""The HTTP API (FastAPI): submit, poll, list; health and metrics.

Every answer that is not a success is JSON ``{"error": {"status", "message"}}``
a person can act on; a 500 is a bug. Uploads are read with a cap (never more
than the size limit plus a little multipart framing) before anything else.

``POST /v1/submissions`` is the hot path of a deadline burst, so it costs
well under a millisecond of the API's CPU: it takes the bare request (no
dependency injection or pydantic on the way in; its parameters are documented
in the OpenAPI page by hand), finds the token in the store's cache, commits
together with the requests that arrived at the same time (:class:`GroupCommit`)
and writes the answer of a new job as a plain dict.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from ..__about__ import __version__
from ..models import Feedback
from ..settings import GradeSettings
from .auth import Principal, token_of
from .dispatch import Handoff
from .metrics import make_registry, metrics_text
from .runtime import ServiceRuntime
from .store import JobRecord, NewJob, QueueFull, ServiceError, Store

log = logging.getLogger("grader.service")

MULTIPART_SLACK = 16 * 1024  # boundaries, part headers and the small form fields
MAX_LABEL = 200
MAX_URL = 2000


class CallbackView(BaseModel):
    url: str
    status: Literal["none", "pending", "delivered", "failed"]
    attempts: int


class JobView(BaseModel):
    """A job as the API shows it; ``feedback`` is the ``grade --format json`` document."""

    id: str
    url: str
    status: Literal["queued", "running", "done"]
    student: str | None
    submission: str
    submission_sha256: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int = Field(description="times a worker claimed the job")
    gradable: bool | None
    score: float | None
    max_score: float | None
    summary: str | None
    callback: CallbackView | None
    feedback: Feedback | None = Field(None, description="only in GET /v1/submissions/{id}")


class JobList(BaseModel):
    items: list[JobView]
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    mode: str
    version: str
    problem: str | None = None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _view(job: JobRecord, base: str, *, with_feedback: bool) -> JobView:
    feedback = Feedback.model_validate_json(job.feedback_json) if job.feedback_json else None
    callback = None
    if job.callback_url:
        callback = CallbackView(
            url=job.callback_url,
            status=job.callback_status,
            attempts=job.callback_attempts,
        )
    return JobView(
        id=job.id,
        url=f"{base}/v1/submissions/{job.id}",
        status=job.status,
        student=job.student,
        submission=job.filename,
        submission_sha256=job.sha256,
        created_at=_iso(job.created_at) or "",
        started_at=_iso(job.started_at),
        finished_at=_iso(job.finished_at),
        attempts=job.attempts,
        gradable=feedback.gradable if feedback else None,
        score=feedback.score if feedback else None,
        max_score=feedback.max_score if feedback else None,
        summary=feedback.summary if feedback else None,
        callback=callback,
        feedback=feedback if with_feedback else None,
    )


def _fresh_view(job: JobRecord, url: str) -> dict[str, Any]:
    """What ``_view(job, ...).model_dump(mode="json")`` gives for a job without a verdict,
    built without pydantic (the accept path's answer)."""
    return {
        "id": job.id,
        "url": url,
        "status": job.status,
        "student": job.student,
        "submission": job.filename,
        "submission_sha256": job.sha256,
        "created_at": _iso(job.created_at) or "",
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "attempts": job.attempts,
        "gradable": None,
        "score": None,
        "max_score": None,
        "summary": None,
        "callback": (
            {"url": job.callback_url, "status": job.callback_status,
             "attempts": job.callback_attempts}
            if job.callback_url
            else None
        ),
        "feedback": None,
    }  # fmt: skip


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> JSONResponse:  # fmt: skip
    return JSONResponse(
        {"error": {"status": status, "message": message, **extra}},
        status_code=status,
        headers=headers,
    )


def _clean_filename(name: str | None) -> str:
    """The upload's base name (no folders), printable, at most 255 characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(c if c.isprintable() else "_" for c in base)[:255]
    return base or "minigpt.py"


def _check_label(value: str | None, what: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > limit or not value.isprintable():
        raise HTTPException(422, f"{what} must be printable text of at most {limit} characters.")
    return value


def _check_callback(url: str | None) -> str | None:
    url = _check_label(url, "callback_url", MAX_URL)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HTTPException(422, "callback_url must be an absolute http:// or https:// URL.")
    return url


async def _read_capped(request: Request, cap: int, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it is larger than ``cap``."""
    too_large = HTTPException(
        413, f"The file is larger than the limit of {limit} bytes.", headers={"X-Limit": str(limit)}
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise too_large
    return bytes(body)


async def _parse_upload(
    request: Request, body: bytes, limit: int
) -> tuple[bytes, str | None, dict[str, str]]:
    """(file bytes, file name, other form fields) from multipart or a raw body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return body, None, {}

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=10, max_part_size=MAX_URL * 2
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(422, f"Malformed multipart body: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "The multipart body has no file field named 'file'.")
    data = await upload.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await form.close()
    return data, upload.filename, fields


UNAUTHORIZED = "Missing or unknown bearer token (Authorization: Bearer <token>)."


TokenLookups = dict[str, "asyncio.Future[tuple[int, str] | None]"]


async def _look_up(request: Request, token: str) -> tuple[int, str] | None:
    """The token from the database, once for all the requests that bring it meanwhile.

    The first requests of a burst all carry a token this process has not seen
    yet: one lookup answers them all, instead of a thread and a query each.
    """
    store = request.app.state.runtime.store
    lookups: TokenLookups = request.app.state.token_lookups
    pending = lookups.get(token)
    if pending is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled():  # this request itself was cancelled
                raise
        return await run_in_threadpool(store.find_token, token)  # the first one's was
    future: asyncio.Future[tuple[int, str] | None] = asyncio.get_running_loop().create_future()
    lookups[token] = future
    future.add_done_callback(lambda _: lookups.pop(token, None))
    try:
        found = await run_in_threadpool(store.find_token, token)
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: no warning when no other request waited
        raise
    future.set_result(found)
    return found


async def authenticate(request: Request) -> Principal:
    """The caller's course, from its bearer token (401 without a valid one).

    A token seen in the last minute is found in memory, on the event loop;
    any other is looked up in the database in a worker thread.
    """
    store = request.app.state.runtime.store
    token = token_of(request.headers.get("authorization"))
    found = None
    if token is not None:
        found = store.cached_token(token) or await _look_up(request, token)
    if found is None:
        raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    return Principal(token_id=found[0], course=found[1])


async def principal(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Principal:
    """The dependency of the reading routes (``authorization`` is there for the OpenAPI page)."""
    return await authenticate(request)


Caller = Annotated[Principal, Depends(principal)]
Accepted = tuple[JobRecord, bool]


class GroupCommit:
    """Submissions that arrive together are committed in one transaction.

    While a batch is being committed (in a worker thread, so the event loop
    goes on reading requests), new ones gather; the next batch takes them all.
    A burst of N requests thus costs a few transactions and thread hops, not N,
    and each request still answers only once its own job is committed: a 202
    means the job is in the database.
    """

    def __init__(self, runtime: ServiceRuntime, max_batch: int = 64) -> None:
        self.runtime, self.max_batch = runtime, max_batch
        self._pending: list[tuple[NewJob, asyncio.Future[Accepted]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def accept(self, new: NewJob) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._pending.append((new, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[NewJob, asyncio.Future[Accepted]]] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                results: Sequence[Accepted | Exception]
                try:
                    results = await run_in_threadpool(
                        self.runtime.accept_many, [new for new, _ in batch]
                    )
                except Exception as exc:  # the database failed: every request of the batch
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away; its job stands
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            for _, future in batch + self._pending:  # cancelled (shutdown) mid-batch
                future.cancel()
            self._pending.clear()
            self._flusher = None


SUBMIT_PARAMETERS = [
    {"name": "student", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "the student's label (or the form field `student`)"},
    {"name": "callback_url", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "POSTed the feedback when done (or the form field `callback_url`)"},
    {"name": "filename", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "name of a raw-body file"},
    {"name": "Idempotency-Key", "in": "header", "required": False,
     "schema": {"type": "string"}, "description": "the same key returns the same job"},
    {"name": "Authorization", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "Bearer <token>"},
]  # fmt: skip


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The API over ``runtime`` (its lifespan starts and stops the workers)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(runtime.start)
        # What start-up loaded (modules, the app, the ORM) is never garbage: keep it
        # out of the collector's way, so a collection in a burst walks only new objects.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await run_in_threadpool(runtime.stop)

    app = FastAPI(
        title="minigpt-grader",
        version=__version__,
        summary="Grades Mini-GPT submissions; results use the `grade --format json` schema.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.token_lookups = {}
    registry = make_registry(runtime.store)
    group_commit = GroupCommit(runtime)
    limit = runtime.settings.limits.max_source_bytes

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
            for error in exc.errors()
        ]
        return _error(422, "Invalid request: " + "; ".join(problems))

    @app.exception_handler(ServiceError)
    async def refused(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFull) else None
        message = f"{exc.message} {exc.fix}" if exc.fix else exc.message
        return _error(exc.status, message, headers, **exc.detail)

    @app.exception_handler(Exception)
    async def bug(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "Internal error of the grading service (a bug; it is logged).")

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    error_responses: dict[int | str, dict[str, Any]] = {
        code: {"description": what}
        for code, what in (
            (401, "no or unknown bearer token"),
            (413, "the file is larger than the limit"),
            (422, "a malformed request (the message says what)"),
            (429, "the queue is full (Retry-After)"),
        )
    }

    @app.post(
        "/v1/submissions",
        status_code=202,
        response_model=JobView,
        responses={
            200: {"model": JobView, "description": "an existing job (deduplicated)"},
            **error_responses,
        },
        openapi_extra={
            "parameters": SUBMIT_PARAMETERS,
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "student": {"type": "string"},
                                "callback_url": {"type": "string"},
                            },
                        }
                    },
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            },
        },
    )
    async def submit(request: Request) -> Response:
        """Queue a submission: the file as multipart field ``file`` or as the raw body.

        The same Idempotency-Key, or the same token, student and bytes under the
        same suite and limits, returns the existing job (200) instead of a new one.
        """
        caller = await authenticate(request)
        query, headers = request.query_params, request.headers
        body = await _read_capped(request, limit + MULTIPART_SLACK, limit)
        source, upload_name, fields = await _parse_upload(request, body, limit)
        if len(source) > limit:
            raise HTTPException(
                413,
                f"The file is {len(source)} bytes, larger than the limit of {limit} bytes.",
                headers={"X-Limit": str(limit)},
            )
        new = NewJob(
            course=caller.course,
            token_id=caller.token_id,
            student=_check_label(fields.get("student", query.get("student")), "student", MAX_LABEL),
            filename=_clean_filename(upload_name or query.get("filename")),
            source=source,
            settings_json=runtime.settings_json,
            grading_key=runtime.grading_key,
            idempotency_key=_check_label(
                headers.get("idempotency-key"), "Idempotency-Key", MAX_LABEL
            ),
            callback_url=_check_callback(fields.get("callback_url", query.get("callback_url"))),
        )
        job, created = await group_commit.accept(new)
        if created:
            url = f"{base_url(request)}/v1/submissions/{job.id}"
            return JSONResponse(_fresh_view(job, url), status_code=202, headers={"Location": url})
        view = _view(job, base_url(request), with_feedback=True)
        return JSONResponse(
            view.model_dump(mode="json"), status_code=200, headers={"Location": view.url}
        )

    @app.get("/v1/submissions/{job_id}", response_model=JobView)
    def get_submission(job_id: str, caller: Caller, request: Request) -> JobView:
        """One job: ``queued``, ``running`` or ``done`` with its feedback."""
        job = runtime.store.get_job(job_id, caller.course)
        if job is None:
            raise HTTPException(404, f"No submission {job_id[:64]!r} in this course.")
        return _view(job, base_url(request), with_feedback=True)

    @app.get("/v1/submissions", response_model=JobList)
    def list_submissions(
        caller: Caller,
        request: Request,
        student: Annotated[str | None, Query(max_length=MAX_LABEL)] = None,
        status: Literal["queued", "running", "done"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JobList:
        """The course's jobs, newest first (without the feedback documents)."""
        jobs = runtime.store.list_jobs(caller.course, student, status, limit, offset)
        base = base_url(request)
        return JobList(
            items=[_view(j, base, with_feedback=False) for j in jobs], limit=limit, offset=offset
        )

    @app.get("/healthz", response_model=Health)
    def healthz() -> Response:
        """200 when the database (and the broker, if any) answer; 503 otherwise."""
        problem = runtime.problem()
        health = Health(
            status="unavailable" if problem else "ok",
            mode=runtime.dispatcher.mode,
            version=__version__,
            problem=problem,
        )
        return JSONResponse(health.model_dump(), status_code=503 if problem else 200)

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)

    return app


# How the supervising `grade serve --api-processes N` tells its API processes what to
# serve: uvicorn starts them fresh (spawn) and builds each one's app with
# :func:`api_process_app`, which reads this variable.
API_PROCESS_ENV = "GRADER_SERVE_API_PROCESS"


def api_process_spec(database: str, settings: GradeSettings, max_queue: int, mode: str,
                     broker: str | None, queue: str) -> str:  # fmt: skip
    """What an API process needs to know, as the value of :data:`API_PROCESS_ENV`."""
    return json.dumps(
        {"database": database, "settings": settings.model_dump_json(), "max_queue": max_queue,
         "mode": mode, "broker": broker, "queue": queue, "supervisor": os.getpid()}
    )  # fmt: skip


PARENT_CHECK_SECONDS = 1.0


def stop_when_orphaned(parent: int, interval: float = PARENT_CHECK_SECONDS) -> threading.Thread:
    """SIGTERM this process once ``parent`` is gone (we were re-parented).

    uvicorn stops its API processes when the supervisor stops, but a supervisor
    killed outright (SIGKILL, the OOM killer) would leave them answering with no
    one grading or feeding; SIGTERM lets each finish the requests it has.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("grade serve (pid %d) is gone: this API process stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def api_process_app() -> FastAPI:
    """The app of one API process (uvicorn's factory): it accepts and answers, never grades."""
    spec = json.loads(os.environ[API_PROCESS_ENV])
    stop_when_orphaned(int(spec["supervisor"]))
    runtime = ServiceRuntime(
        Store(spec["database"]),
        Handoff(spec["mode"], spec["broker"], spec["queue"]),
        GradeSettings.model_validate_json(spec["settings"]),
        max_queue=int(spec["max_queue"]),
        role="api",
    )
    return create_app(runtime)
