"""``/v1/submissions``: submit, get one, list, a job's events.

``POST /v1/submissions`` is the hot path of a deadline burst, so it costs well
under a millisecond of the API's CPU: it takes the bare request (no dependency
injection or pydantic on the way in; its parameters are documented in the
OpenAPI page by hand), finds the token's course in memory, commits together
with the requests that arrived at the same time (:class:`GroupCommit`) and
writes the answer of a new job as a plain dict.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ...db import NewJob
from ...db.tables import JobStatus
from ...errors import CallbackRefused, NotFound
from ...runtime import ServiceRuntime
from ..deps import Caller, Runtime, base_url, runtime_of, submitter
from ..upload import MAX_LABEL, check_label, clean_filename, read_source
from ..views import EventList, JobList, JobView, event_view, job_fields, job_view

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])
RESOLVE_SECONDS = 5.0  # at most this long to resolve a callback URL's host

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": what}
    for code, what in (
        (401, "no bearer token, or an unknown, revoked or expired one"),
        (404, "no such job in this course"),
        (413, "the file is larger than the limit"),
        (422, "a malformed request or a refused callback_url (the message says what)"),
        (429, "the queue (or the course's queue) is full (Retry-After)"),
    )
}
PARAMETERS = [
    {"name": "student", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "the student's label (or the form field `student`)"},
    {"name": "callback_url", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "POSTed the feedback when done, signed (or the form field `callback_url`)"},
    {"name": "filename", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "name of a raw-body file"},
    {"name": "Idempotency-Key", "in": "header", "required": False,
     "schema": {"type": "string"}, "description": "the same key returns the same job"},
    {"name": "Authorization", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "Bearer <token>"},
]  # fmt: skip
UPLOAD = {
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
}


async def _checked_callback(runtime: ServiceRuntime, url: str | None) -> str | None:
    """The callback URL if its host resolves to addresses callbacks may reach (422 if not)."""
    if url is None or url == "":
        return None
    runtime.callback_policy.check_syntax(url)
    try:
        check = run_in_threadpool(runtime.callback_policy.target, url)
        await asyncio.wait_for(check, RESOLVE_SECONDS)
    except TimeoutError:
        raise CallbackRefused("callback_url: its host did not resolve in time.") from None
    return url


@router.post(
    "",
    status_code=202,
    response_model=JobView,
    responses={
        200: {"model": JobView, "description": "an existing job (deduplicated)"},
        **ERRORS,
    },
    openapi_extra={"parameters": PARAMETERS, "requestBody": UPLOAD},
)
async def submit(request: Request) -> Response:
    """Queue a submission: the file as multipart field ``file`` or as the raw body.

    The same Idempotency-Key, or the same token, student and bytes under the
    same suite and limits, returns the existing job (200) instead of a new one.
    """
    caller = await submitter(request)
    runtime = runtime_of(request)
    limit = runtime.settings.limits.max_source_bytes
    source, upload_name, fields = await read_source(request, limit)
    query = request.query_params
    new = NewJob(
        course=caller.course,
        token_id=caller.token_id,
        student=check_label(fields.get("student", query.get("student")), "student"),
        filename=clean_filename(upload_name or query.get("filename")),
        source=source,
        settings_json=runtime.settings_json,
        grading_key=runtime.grading_key,
        idempotency_key=check_label(request.headers.get("idempotency-key"), "Idempotency-Key"),
        callback_url=await _checked_callback(
            runtime, fields.get("callback_url", query.get("callback_url"))
        ),
    )
    job, created = await request.app.state.group_commit.accept(new)
    if created:
        url = f"{base_url(request)}/v1/submissions/{job.id}"
        return JSONResponse(job_fields(job, url), status_code=202, headers={"Location": url})
    view = job_view(job, base_url(request), with_feedback=True)
    return JSONResponse(view.model_dump(mode="json"), status_code=200,
                        headers={"Location": view.url})  # fmt: skip


@router.get("/{job_id}", response_model=JobView, responses=ERRORS)
def get_submission(job_id: str, caller: Caller, runtime: Runtime, request: Request) -> JobView:
    """One job: ``queued``, ``running``, ``done`` with its feedback, or ``superseded``."""
    job = runtime.store.reads.job(job_id, caller.course)
    if job is None:
        raise NotFound(f"No submission {job_id[:64]!r} in this course.")
    return job_view(job, base_url(request), with_feedback=True)


@router.get("/{job_id}/events", response_model=EventList, responses=ERRORS)
def get_events(job_id: str, caller: Caller, runtime: Runtime) -> EventList:
    """What happened to one job, in order: accepted, claimed (by which worker), released,
    requeued, infrastructure errors, done, callbacks..."""
    events = runtime.store.reads.events(job_id, caller.course)
    if events is None:
        raise NotFound(f"No submission {job_id[:64]!r} in this course.")
    return EventList(job=job_id, items=[event_view(e) for e in events])


@router.get("", response_model=JobList, responses=ERRORS)
def list_submissions(
    caller: Caller,
    runtime: Runtime,
    request: Request,
    student: Annotated[str | None, Query(max_length=MAX_LABEL)] = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    """The course's jobs, newest first (without the feedback documents)."""
    jobs, total = runtime.store.reads.jobs(caller.course, student, status, limit, offset)
    base = base_url(request)
    following = None
    if offset + len(jobs) < total:
        params: dict[str, str | int] = {
            k: v for k, v in (("student", student), ("status", status)) if v is not None
        }
        params |= {"limit": limit, "offset": offset + limit}
        following = f"{base}/v1/submissions?{urlencode(params)}"
    items = [job_view(job, base, with_feedback=False) for job in jobs]
    return JobList(items=items, total=total, limit=limit, offset=offset, next=following)
