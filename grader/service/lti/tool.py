"""The tool side of LTI 1.3, done by PyLTI1p3 (the maintained ``pylti1p3next`` release):
what it needs from this service, and the two steps of a launch.

PyLTI1p3 validates everything a launch carries: the OIDC login's issuer and
client (a registration of ours), the state (the cookie set at the login), the
id_token's signature against the platform's key set, its expiry, audience,
deployment, nonce and message type. What it asks its host for is given here:
the request's parameters and cookies, a redirect, the registrations (from the
database), and somewhere to keep the launch state. That store (the database,
shared by every API process) takes a nonce away the first time it is checked,
so an id_token is accepted once: a replay fails on its nonce even with the
state it came with.

The calls are blocking (PyLTI1p3 fetches the platform's key set with
``requests``): the routes run them in a worker thread, and every request to a
platform has a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from pylti1p3.cookie import CookieService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract
from starlette.responses import RedirectResponse, Response

from ..db import Store
from ..db.lti import LaunchRecord, RegistrationRecord
from ..errors import ServiceError
from .keys import ToolKey

PLATFORM_TIMEOUT = 10.0  # seconds for any one request to a platform
KEY_SET_CACHE_SECONDS = 600  # a platform's key set is fetched again after this long
LAUNCH_STATE_SECONDS = 600  # a login's nonce and state are good this long
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
RESOURCE_LINK_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/resource_link"


class LaunchRefused(ServiceError):
    """An LTI login or launch that did not pass validation (the message says which check)."""

    status = 403


class TimedSession(requests.Session):
    """A requests session whose every request has a deadline."""

    def __init__(self, timeout: float = PLATFORM_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout
        self.headers["User-Agent"] = "minigpt-grader (LTI 1.3 tool)"

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:  # fmt: skip
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass
class ToolRequest(Request):
    """The parameters (query or form) and cookies of one request."""

    params: Mapping[str, str]
    cookies: Mapping[str, str]
    secure: bool
    _session: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> dict[str, Any]:
        return self._session

    def is_secure(self) -> bool:
        return self.secure

    def get_param(self, key: str) -> str:
        value = self.params.get(key)
        return value if isinstance(value, str) else ""


class ToolCookies(CookieService):
    """The login's state cookie. On https it is ``SameSite=None; Secure`` (the platform's
    form post that ends a launch is cross-site, often in an iframe); on plain http
    (a test platform on 127.0.0.1) ``Lax``."""

    def __init__(self, request: ToolRequest) -> None:
        self.request = request
        self.to_set: dict[str, tuple[str, int | None]] = {}

    def _name(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str) -> str | None:
        return self.request.cookies.get(self._name(name))

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self.to_set[self._name(name)] = (str(value), exp)

    def apply(self, response: Response) -> Response:
        secure = self.request.is_secure()
        for name, (value, age) in self.to_set.items():
            response.set_cookie(name, value, max_age=age, path="/lti/", secure=secure,
                                httponly=True, samesite="none" if secure else "lax")  # fmt: skip
        return response


class ToolRedirect(Redirect[Response]):
    def __init__(self, location: str, cookies: ToolCookies) -> None:
        self.location, self.cookies = location, cookies

    def do_redirect(self) -> Response:
        return self.cookies.apply(RedirectResponse(self.location, status_code=302))

    def do_js_redirect(self) -> Response:  # never used: the login always redirects
        return self.do_redirect()

    def set_redirect_url(self, location: str) -> None:
        self.location = location

    def get_redirect_url(self) -> str:
        return self.location


class DatabaseStorage(LaunchDataStorage[Any]):
    """Launch state in the service's database, seen by every API process.

    No session cookie of its own: the state cookie binds a launch to the browser
    that logged in. A nonce is taken away when checked: it admits one launch.
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def get_session_cookie_name(self) -> str | None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        return self.store.lti.state_get(self._prepare_key(key))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        self.store.lti.state_set(self._prepare_key(key), value, exp or LAUNCH_STATE_SECONDS)

    def check_value(self, key: str) -> bool:
        prepared = self._prepare_key(key)
        if "-nonce-" in prepared:
            return self.store.lti.state_take(prepared)
        return self.store.lti.state_get(prepared) is not None


class DatabaseToolConf(ToolConfAbstract[ToolRequest]):
    """The registrations of ``grade serve lti add``, one issuer having any number of clients."""

    def __init__(self, store: Store, key: ToolKey) -> None:
        self.store, self.key = store, key
        self.found: RegistrationRecord | None = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def registration_of(self, record: RegistrationRecord) -> Registration:
        registration = (
            Registration()
            .set_issuer(record.issuer)
            .set_client_id(record.client_id)
            .set_auth_login_url(record.auth_login_url)
            .set_auth_token_url(record.auth_token_url)
            .set_key_set_url(record.key_set_url)
            .set_tool_private_key(self.key.private_pem)
            .set_tool_public_key(self.key.public_pem)
        )
        if record.auth_audience:
            registration.set_auth_audience(record.auth_audience)
        return registration

    def _record(self, iss: str, client_id: str | None) -> RegistrationRecord | None:
        if (
            self.found is None
            or self.found.issuer != iss
            or (client_id and self.found.client_id != client_id)
        ):
            self.found = self.store.lti.find(iss, client_id or None)
        return self.found

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self.find_registration_by_params(iss, "", *args, **kwargs)

    def find_registration_by_params(self, iss: str, client_id: str, *args: Any,
                                    **kwargs: Any) -> Registration:  # fmt: skip
        record = self._record(iss, client_id)
        return self.registration_of(record) if record else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, "")

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str,
                                  *args: Any, **kwargs: Any) -> Deployment | None:  # fmt: skip
        record = self._record(iss, client_id)
        if record is None or deployment_id not in record.deployment_ids:
            return None
        return Deployment().set_deployment_id(deployment_id)


class ToolLogin(OIDCLogin[ToolRequest, DatabaseToolConf, SessionService, ToolCookies, Response]):
    def get_redirect(self, url: str) -> Redirect[Response]:
        return ToolRedirect(url, self._cookie_service)


class ToolLaunch(MessageLaunch[ToolRequest, DatabaseToolConf, SessionService, ToolCookies]):
    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)


class TokenCachingConnector(ServiceConnector):
    """Access tokens kept until they expire, per issuer, client and scopes (PyLTI1p3's
    own key has no client id: two registrations of one issuer would share tokens)."""

    tokens: ClassVar[dict[tuple[str | None, str], tuple[str, float]]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        with self.lock:
            found = self.tokens.get((self._registration.get_client_id(), scope_key))
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        until = time.monotonic() + max(0.0, float(expires_in) - 30)
        with self.lock:
            self.tokens[(self._registration.get_client_id(), scope_key)] = (access_token, until)


def _services(store: Store, key: ToolKey, request: ToolRequest) -> dict[str, Any]:
    storage = DatabaseStorage(store)
    storage.set_request(request)
    session = SessionService(request)
    session.set_data_storage(storage)
    return {
        "session_service": session,
        "cookie_service": ToolCookies(request),
        "launch_data_storage": storage,
    }


def login(store: Store, key: ToolKey, request: ToolRequest, launch_url: str) -> Response:
    """Step 1 (OIDC login initiation): the redirect to the platform's auth endpoint,
    with the state cookie set; :class:`LaunchRefused` for an unknown platform."""
    conf = DatabaseToolConf(store, key)
    services = _services(store, key, request)
    flow = ToolLogin(request, conf, **services)
    flow.set_launch_data_lifetime(LAUNCH_STATE_SECONDS)
    try:
        response: Response = flow.redirect(launch_url)
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused(f"LTI login refused: {exc}") from None
    return response


@dataclass(frozen=True)
class Launched:
    launch: LaunchRecord
    registration: RegistrationRecord


def launch(store: Store, key: ToolKey, request: ToolRequest) -> Launched:
    """Step 2 (the platform's form post): the launch validated and recorded;
    :class:`LaunchRefused` naming the check that failed."""
    conf = DatabaseToolConf(store, key)
    services = _services(store, key, request)
    flow = ToolLaunch(request, conf, requests_session=TimedSession(),
                      service_connector_cls=TokenCachingConnector, **services)  # fmt: skip
    flow.set_public_key_caching(services["launch_data_storage"], KEY_SET_CACHE_SECONDS)
    flow.set_launch_data_lifetime(LAUNCH_STATE_SECONDS)  # what it keeps of the launch
    try:
        data: Mapping[str, Any] = flow.get_launch_data()
        resource = flow.is_resource_launch()
    except (LtiException, OIDCException) as exc:
        raise LaunchRefused(f"LTI launch refused: {exc}") from None
    registration = conf.found
    if registration is None:
        raise LaunchRefused("LTI launch refused: no registration for this platform.")
    if not resource:
        raise LaunchRefused("LTI launch refused: only resource link launches open this tool.")
    subject = data.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        raise LaunchRefused("LTI launch refused: the launch names no user (sub).")
    name = data.get("name") or data.get("email")
    ags = data.get(AGS_CLAIM)
    record = store.lti.record_launch(
        registration,
        subject,
        str(name)[:200] if isinstance(name, str) else None,
        str(data.get(RESOURCE_LINK_CLAIM, {}).get("id", ""))[:300],
        dict(ags) if isinstance(ags, Mapping) else None,
    )
    return Launched(record, registration)
