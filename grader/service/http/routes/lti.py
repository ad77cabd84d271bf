"""``/lti/...``: the tool's side of an LTI 1.3 launch, and its public key.

- ``/lti/login`` (GET or POST), the OIDC login initiation URL: the tool sets its state
  cookie and redirects to the platform's auth URL;
- ``/lti/launch`` (POST), the redirect URI: the platform posts the signed id_token, and
  the student lands on their page;
- ``/lti/jwks``, the tool's public key set, with which the platform checks the tool's
  requests for an access token (to post grades).

The checks themselves are PyLTI1p3's (:mod:`grader.service.lti.tool`); a refused
login or launch is an HTML page naming the check that failed (403).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...codes import LAUNCH_PAGE_SECONDS, PageCode, make_code
from ...errors import ServiceError
from ...lti.tool import LaunchRefused, ToolRequest, launch, login
from ..deps import runtime_of
from ..page_views import error_page
from ..upload import read_capped

router = APIRouter(prefix="/lti", tags=["LTI 1.3"])
MAX_FORM = 64 * 1024  # an id_token is a few kilobytes
MAX_FIELDS = 30


async def _params(request: Request) -> dict[str, str]:
    """The query's parameters and, for a POST, the form's (url-encoded, capped)."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = await read_capped(request, MAX_FORM)
        try:
            fields = parse_qsl(body.decode("utf-8"), max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "Malformed form.") from None
        params.update(fields)
    return params


async def _tool_request(request: Request) -> ToolRequest | Response:
    """What PyLTI1p3 reads of the request (an error page for a malformed one)."""
    try:
        params = await _params(request)
    except HTTPException as exc:
        return error_page(exc.status_code, str(exc.detail))
    return ToolRequest(params, dict(request.cookies), secure=request.url.scheme == "https")


def _refused(exc: ServiceError) -> Response:
    return error_page(exc.status, exc.message, exc.fix, title="The launch was refused")


@router.api_route("/login", methods=["GET", "POST"], name="lti_login")
async def lti_login(request: Request) -> Response:
    """OIDC login initiation (the platform's first request of a launch)."""
    runtime = runtime_of(request)
    tool_request = await _tool_request(request)
    if isinstance(tool_request, Response):
        return tool_request
    launch_url = str(request.url_for("lti_launch"))
    try:
        response: Response = await run_in_threadpool(
            login, runtime.store, runtime.tool_key, tool_request, launch_url
        )
    except LaunchRefused as exc:
        return _refused(exc)
    return response


@router.post("/launch", name="lti_launch")
async def lti_launch(request: Request) -> Response:
    """The platform's form post of the id_token: validated, then the student's page (303)."""
    runtime = runtime_of(request)
    tool_request = await _tool_request(request)
    if isinstance(tool_request, Response):
        return tool_request
    try:
        launched = await run_in_threadpool(launch, runtime.store, runtime.tool_key, tool_request)
    except LaunchRefused as exc:
        return _refused(exc)
    record = launched.launch
    page = PageCode(record.course, record.student, record.id, time.time() + LAUNCH_PAGE_SECONDS)
    code = await run_in_threadpool(make_code, runtime.store, page)
    return RedirectResponse(request.url_for("page", code=code), status_code=303)


@router.get("/jwks", name="lti_jwks")
def lti_jwks(request: Request) -> JSONResponse:
    """The tool's public key set (give its URL to the platform)."""
    return JSONResponse(runtime_of(request).tool_key.jwks())
