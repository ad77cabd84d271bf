"""``/s/{code}``: a student's own page. Hand in ``minigpt.py``, watch it being graded,
read the feedback.

The code in the URL says who the page is for (:mod:`grader.service.codes`): a
link from ``grade serve links``, or the page an LTI launch opened. An upload is
read with the same limits and accepted through the same group commit as
``POST /v1/submissions`` (under the course's page token), so it is graded the
one way every job is. A page opened by a launch also records, with each job,
the grade to send to the platform when the job is done.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...codes import PageCode, read_code
from ...db import JobRecord, NewJob
from ...db.lti import LaunchRecord, RegistrationRecord
from ...errors import ServiceError, Unauthorized
from ...runtime import ServiceRuntime
from ..deps import runtime_of
from ..page_views import (
    REFRESH_SECONDS,
    error_page,
    feedback_values,
    framing,
    html,
    job_row,
    shown,
)
from ..upload import clean_filename, read_source

router = APIRouter(prefix="/s", tags=["student pages"], include_in_schema=False)
ATTEMPT = re.compile(r"[0-9a-f]{32}")
RECENT_JOBS = 10
GRADEBOOK = {
    "waiting": "Your score goes to your course's gradebook when the grading is done.",
    "pending": "Sending your score to your course's gradebook (tried again until the "
    "platform answers).",
    "delivered": "Your score was sent to your course's gradebook.",
    "failed": "Your score could not be sent to your course's gradebook; the course staff "
    "can see why in the service's events.",
    "skipped": "No score was sent to your course's gradebook.",
}


class Visit:
    """Whose page this is (from its code) and, for an LTI page, the launch behind it."""

    def __init__(self, runtime: ServiceRuntime, code: str) -> None:
        self.code = code
        self.page: PageCode = read_code(runtime.store, code)
        self.launch: LaunchRecord | None = None
        self.registration: RegistrationRecord | None = None
        if self.page.launch is not None:
            launch = runtime.store.lti.launch(self.page.launch)
            if launch is None or (launch.course, launch.student) != (
                self.page.course,
                self.page.student,
            ):
                raise ServiceError("This page's launch is unknown.")
            self.launch = launch
            self.registration = runtime.store.lti.registration(launch.registration_id)

    @property
    def who(self) -> str:
        if self.launch is not None:
            name = self.launch.name or self.launch.student
            return f"Course {self.page.course} · {name} (opened from your course)"
        return f"Course {self.page.course} · student {self.page.student}"

    @property
    def frame(self) -> str:
        return framing(self.registration.issuer if self.registration else None)


def _visit(runtime: ServiceRuntime, code: str) -> Visit | Response:
    try:
        return Visit(runtime, code)
    except ServiceError as exc:
        return error_page(exc.status, exc.message, exc.fix)


def _form(request: Request, visit: Visit, runtime: ServiceRuntime, problem: str | None = None,
          status: int = 200) -> Response:  # fmt: skip
    jobs, _ = runtime.store.reads.jobs(visit.page.course, visit.page.student, None, RECENT_JOBS, 0)
    rows = [job_row(job, str(request.url_for("page_job", code=visit.code, job_id=job.id)))
            for job in jobs]  # fmt: skip
    return html(
        "submit.html.j2", status, frame=visit.frame, script=True,
        title="Mini-GPT: hand in minigpt.py", who=visit.who, problem=problem,
        action=str(request.url_for("page_submit", code=visit.code)), attempt=uuid.uuid4().hex,
        limit=runtime.settings.limits.max_source_bytes, lti=visit.launch is not None, jobs=rows,
    )  # fmt: skip


@router.get("/{code}", name="page")
def page(code: str, request: Request) -> Response:
    """The form, and the student's recent submissions."""
    runtime = runtime_of(request)
    visit = _visit(runtime, code)
    return visit if isinstance(visit, Response) else _form(request, visit, runtime)


@router.post("/{code}", name="page_submit")
async def submit(code: str, request: Request) -> Response:
    """Accept the upload like ``POST /v1/submissions``, then show its progress (303)."""
    runtime = runtime_of(request)
    visit = await run_in_threadpool(_visit, runtime, code)
    if isinstance(visit, Response):
        return visit
    try:
        job = await _accept(request, runtime, visit)
    except HTTPException as exc:
        return await run_in_threadpool(_form, request, visit, runtime, str(exc.detail),
                                       exc.status_code)  # fmt: skip
    except ServiceError as exc:
        problem = f"{exc.message} {exc.fix or ''}".strip()
        return await run_in_threadpool(_form, request, visit, runtime, problem, exc.status)
    if visit.launch is not None:
        await run_in_threadpool(runtime.store.lti.expect_grade, job.id, visit.launch.id)
    return RedirectResponse(request.url_for("page_job", code=code, job_id=job.id), 303)


async def _accept(request: Request, runtime: ServiceRuntime, visit: Visit) -> JobRecord:
    source, name, fields = await read_source(request, runtime.settings.limits.max_source_bytes)
    if not source:
        raise HTTPException(422, "Choose your minigpt.py before submitting.")
    attempt = fields.get("attempt", "")
    course = visit.page.course
    for _ in range(2):  # the course's page token may have been rotated away meanwhile
        new = NewJob(
            course=course,
            token_id=await run_in_threadpool(runtime.store.pages.token_id, course),
            student=visit.page.student,
            filename=clean_filename(name),
            source=source,
            settings_json=runtime.settings_json,
            grading_key=runtime.grading_key,
            idempotency_key=f"page-{attempt}" if ATTEMPT.fullmatch(attempt) else None,
        )
        try:
            job, _ = await request.app.state.group_commit.accept(new)
        except Unauthorized:
            continue
        assert isinstance(job, JobRecord)
        return job
    raise ServiceError("The page could not hand in the file; try again.")


@router.get("/{code}/jobs/{job_id}", name="page_job")
def job_page(code: str, job_id: str, request: Request) -> Response:
    """A job's progress (the page refreshes itself) and then its feedback."""
    runtime = runtime_of(request)
    visit = _visit(runtime, code)
    if isinstance(visit, Response):
        return visit
    job = runtime.store.reads.job(job_id[:64], visit.page.course)
    if job is None or job.student != visit.page.student:
        return error_page(404, "There is no such submission on this page.")
    values: dict[str, Any] = {
        "file": shown(job.filename), "who": visit.who, "job_id": job.id,
        "submitted": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(job.created_at)),
        "state": job.status, "lti": visit.launch is not None,
        "back": str(request.url_for("page", code=code)), "gradebook": None, "newer": None,
    }  # fmt: skip
    waiting = job.status in ("queued", "running")
    if waiting:
        since = job.started_at if job.status == "running" and job.started_at else job.created_at
        values |= {"elapsed": int(time.time() - since), "retrying": job.infra_errors > 0}
    elif job.status == "superseded" and job.superseded_by:
        newer = request.url_for("page_job", code=code, job_id=job.superseded_by)
        values["newer"] = str(newer)
    elif job.feedback_json:
        from ....models import Feedback

        values |= feedback_values(Feedback.model_validate_json(job.feedback_json))
        values["attempts"] = max(1, job.infra_errors)
    if visit.launch is not None:
        grades = [g for g in runtime.store.lti.grades_of(job.id) if g.launch_id == visit.launch.id]
        if grades:
            values["gradebook"] = GRADEBOOK.get(grades[0].status)
            waiting = waiting or grades[0].status in ("waiting", "pending")
    return html("job.html.j2", frame=visit.frame, title=f"Mini-GPT: {shown(job.filename)}",
                refresh=REFRESH_SECONDS if waiting else None, **values)  # fmt: skip
