"""A real LTI 1.3 platform for the tests, on 127.0.0.1: lti1p3platform (OpenLearning's
platform-side library) behind a small Starlette app, served by uvicorn in a thread.

The library does the platform's part of the protocol: the OIDC login initiation
(:class:`OIDCLoginAbstract`), the launch (it checks the tool's auth request,
builds the id_token with the user, resource link, context and AGS claims, and
signs it with the platform's key), the token endpoint (it verifies the tool's
client assertion against the tool's JWKS URL and issues an access token) and
the AGS endpoints (it checks the access token and its scopes). What a library
user writes is what is written here: where the registration, the line items
and the scores are kept, and the framework glue (request in, response out).

What a test can change between launches: the issuer, client id and deployment
id the platform sends, and whether its score endpoint is down (503).
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.exceptions import LineItemNotFoundException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.request import TRequest
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, TPage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    return pem.decode()


def public_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


@dataclass
class Platform:
    """The platform's settings and what it received (line items, scores)."""

    port: int
    tool: str  # the tool's base URL
    client_id: str = "grader-client"
    deployment_id: str = "deployment-1"
    issuer: str = ""
    private_key: str = field(default_factory=new_private_key)
    scores: list[dict[str, Any]] = field(default_factory=list)
    lineitems: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores_down: bool = False
    score_requests: int = 0
    server: Any = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.issuer = self.issuer or self.url
        self.lineitems["1"] = {"id": f"{self.url}/lineitems/1", "label": "Mini-GPT",
                               "scoreMaximum": 100, "resourceLinkId": "assignment-1"}  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def registration(self) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_launch_url(f"{self.tool}/lti/launch")
            .set_oidc_login_url(f"{self.tool}/lti/login")
            .set_tool_key_set_url(f"{self.tool}/lti/jwks")
            .set_platform_private_key(self.private_key)
            .set_platform_public_key(public_of(self.private_key))
        )

    def launch_url(self, user: str, name: str = "Ada", resource: str = "assignment-1") -> str:
        """Where a user's browser starts a launch of the tool from the platform."""
        return f"{self.url}/launch?" + urlencode({"user": user, "name": name, "resource": resource})

    def start(self) -> Platform:
        import uvicorn

        config = uvicorn.Config(platform_app(self), host="127.0.0.1", port=self.port,
                                log_level="warning")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)


class Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["platform"].registration()

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        assert self._registration is not None
        return self._registration


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = json.dumps(kwargs)

    def get_redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=302)


class Launch(LTIAdvantageMessageLaunchAbstract):
    """The platform's answer to the tool's auth request: a form that posts the id_token."""

    def __init__(self, params: dict[str, str], conf: Conf) -> None:
        super().__init__(params, conf)  # type: ignore[arg-type]
        self.params = params

    def get_preflight_response(self) -> dict[str, Any]:
        return self.params

    def prepare_launch(self, preflight_response: dict[str, Any], **kwargs: Any) -> None:
        hint = json.loads(preflight_response.get("lti_message_hint") or "{}")
        self.set_user_data(preflight_response["login_hint"], [LEARNER], full_name=hint.get("name"))
        self.set_resource_link_claim(hint.get("resource", "assignment-1"), title="Mini-GPT")
        self.set_launch_context_claim("course-1", context_title="CS 101")

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Response:
        action = html.escape(str(launch_data["launch_url"]))
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(str(launch_data[name]))}">'
            for name in ("id_token", "state")
        )
        page = (f'<!DOCTYPE html><html><body><form id="launch" method="post" action="{action}">'
                f'{fields}</form><script>document.getElementById("launch").submit()</script>'
                "</body></html>")  # fmt: skip
        return HTMLResponse(page)


class Grades(AssignmentsGradesService):
    """The platform's gradebook: line items and the scores the tool posts."""

    def __init__(self, request: PlatformRequest, conf: Conf, platform: Platform) -> None:
        super().__init__(request, conf, f"{platform.url}/lineitems")
        self.platform = platform

    def find_lineitems(self, *args: Any, **kwargs: Any) -> TPage:
        items = list(self.platform.lineitems.values())
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        if line_item_id not in self.platform.lineitems:
            raise LineItemNotFoundException()
        return self.platform.lineitems[line_item_id]  # type: ignore[return-value]

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        number = str(len(self.platform.lineitems) + 1)
        item = {**creation_data, "id": f"{self.platform.url}/lineitems/{number}"}
        self.platform.lineitems[number] = item
        return item  # type: ignore[return-value]

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        raise NotImplementedError

    def delete_lineitem(self, line_item_id: str) -> None:
        raise NotImplementedError

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        self.find_lineitem(line_item_id)
        self.platform.scores.append({"lineitem": line_item_id, **score})
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                    user_id: str | None = None) -> TPage:  # fmt: skip
        return {"content": [], "has_next": False, "next": None}


class StarletteRequest(PlatformRequest):
    def build_metadata(self, request: Any) -> TRequest:
        meta: TRequest = request
        return meta


async def _metadata(request: Request) -> StarletteRequest:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    form = dict(await request.form()) if "form" in content_type else {}
    return StarletteRequest({
        "method": request.method, "form_data": form, "get_data": dict(request.query_params),
        "headers": request.headers, "content_type": content_type, "path": request.url.path,
        "json": json.loads(body) if body and "json" in content_type else None,
    })  # fmt: skip


def platform_app(platform: Platform) -> Starlette:
    def conf() -> Conf:
        return Conf(platform=platform)

    async def launch(request: Request) -> Response:
        """A user opens the assignment: the platform initiates the tool's login."""
        params = request.query_params
        login = Login(request, conf())
        login.set_lti_message_hint(resource=params.get("resource", "assignment-1"),
                                   name=params.get("name"))  # fmt: skip
        response: Response = login.initiate_login(params["user"])
        return response

    async def auth(request: Request) -> Response:
        """The tool's authentication request: the id_token, posted to its launch URL."""
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        flow = Launch(params, conf())
        lineitem = f"{platform.url}/lineitems/1"
        flow.set_ags(lineitems_url=f"{platform.url}/lineitems", lineitem_url=lineitem)
        response: Response = flow.lti_launch()
        return response

    async def jwks(_request: Request) -> Response:
        platform_conf = conf()
        platform_conf.get_registration()
        return JSONResponse(platform_conf.get_jwks())

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            answer = conf().get_access_token(form)
        except Exception as exc:  # the library's refusals: a bad assertion, grant or claim
            return JSONResponse({"error": "invalid_client", "detail": str(exc)}, 400)
        return JSONResponse(answer)

    def _reply(answer: Any) -> Response:
        if answer.result is None:
            return Response(status_code=answer.code, media_type=answer.media_type)
        return JSONResponse(answer.result, answer.code, media_type=answer.media_type)

    async def lineitems(request: Request) -> Response:
        service = Grades(await _metadata(request), conf(), platform)
        if request.method == "POST":
            return _reply(service.handle_resp(service.handle_create_lineitem))
        answer = service.handle_resp(service.handle_get_lineitems)
        if answer.result is not None:
            answer.result = answer.result["content"]
        return _reply(answer)

    async def lineitem(request: Request) -> Response:
        service = Grades(await _metadata(request), conf(), platform)
        return _reply(service.handle_resp(service.handle_get_lineitem,
                                          line_item_id=request.path_params["item"]))  # fmt: skip

    async def scores(request: Request) -> Response:
        platform.score_requests += 1
        if platform.scores_down:
            return Response("platform down for maintenance", status_code=503)
        service = Grades(await _metadata(request), conf(), platform)
        return _reply(service.handle_resp(service.handle_update_score,
                                          line_item_id=request.path_params["item"]))  # fmt: skip

    return Starlette(routes=[
        Route("/launch", launch),
        Route("/auth", auth, methods=["GET", "POST"]),
        Route("/jwks", jwks),
        Route("/token", token, methods=["POST"]),
        Route("/lineitems", lineitems, methods=["GET", "POST"]),
        Route("/lineitems/{item}", lineitem),
        Route("/lineitems/{item}/scores", scores, methods=["POST"]),
    ])  # fmt: skip
