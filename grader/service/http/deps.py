"""Who is asking, and what serves them: the dependencies of the routes.

Bearer tokens per course: a token sees its own course's jobs and nothing else.
Reading routes check the token against the database on each request (a revoked
or expired token gets 401 at once). The accept route, the hot path of a deadline
burst, finds the token's course in memory when it can (:meth:`Tokens.known`),
and its group commit checks in the same transaction that the token is still
usable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from ..db.accept import UNAUTHORIZED
from ..db.tokens import TokenOwner
from ..errors import Unauthorized
from ..runtime import ServiceRuntime


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's id (part of the dedupe key) and its course."""

    token_id: int
    course: str


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if it could be one of ours."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and len(token) <= 200 else None


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]

TokenLookups = dict[str, "asyncio.Future[TokenOwner | None]"]


async def _look_up(request: Request, token: str) -> TokenOwner | None:
    """The token from the database, once for all the requests that bring it meanwhile.

    The first requests of a burst all carry a token this process has not seen
    yet: one lookup answers them all, instead of a thread and a query each.
    """
    tokens = runtime_of(request).store.tokens
    lookups: TokenLookups = request.app.state.token_lookups
    pending = lookups.get(token)
    if pending is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled():  # this request itself was cancelled
                raise
        return await run_in_threadpool(tokens.find, token)  # the first one's was
    future: asyncio.Future[TokenOwner | None] = asyncio.get_running_loop().create_future()
    lookups[token] = future
    future.add_done_callback(lambda _: lookups.pop(token, None))
    try:
        found = await run_in_threadpool(tokens.find, token)
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: no warning when no other request waited
        raise
    future.set_result(found)
    return found


async def submitter(request: Request) -> Principal:
    """The accept route's caller: its course from memory when known, else the database
    (401 without a usable token; the group commit checks it is still usable)."""
    token = bearer_token(request.headers.get("authorization"))
    found = None
    if token is not None:
        found = runtime_of(request).store.tokens.known(token) or await _look_up(request, token)
    if found is None:
        raise Unauthorized(UNAUTHORIZED)
    return Principal(token_id=found[0], course=found[1])


def reader(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Principal:
    """A reading route's caller, checked against the database now (in a worker thread)."""
    token = bearer_token(authorization)
    found = runtime_of(request).store.tokens.find(token) if token is not None else None
    if found is None:
        raise Unauthorized(UNAUTHORIZED)
    return Principal(token_id=found[0], course=found[1])


Caller = Annotated[Principal, Depends(reader)]


def base_url(request: Request) -> str:
    """The service's own URL as the client sees it (``--forwarded-allow-ips`` applies)."""
    return str(request.base_url).rstrip("/")
