"""Every answer that is not a success is JSON ``{"error": {"status", "message"}}`` a
person can act on; a 500 is a bug (logged in full, never shown)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import QueueFull, ServiceError, Unauthorized

log = logging.getLogger("grader.service")


def error(status: int, message: str, headers: dict[str, str] | None = None,
          **extra: Any) -> JSONResponse:  # fmt: skip
    return JSONResponse(
        {"error": {"status": status, "message": message, **extra}},
        status_code=status,
        headers=headers,
    )


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
        for item in exc.errors()
    ]
    return error(422, "Invalid request: " + "; ".join(problems))


async def refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = None
    if isinstance(exc, QueueFull):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    message = f"{exc.message} {exc.fix}" if exc.fix else exc.message
    return error(exc.status, message, headers, **exc.detail)


async def bug(request: Request, _exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error(500, "Internal error of the grading service (a bug; it is logged).")


def add_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(ServiceError, refused)
    app.add_exception_handler(Exception, bug)
