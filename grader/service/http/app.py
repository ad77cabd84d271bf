"""The FastAPI app: one router per resource, the error handlers, the runtime's life.

A new resource (a student page, LTI) is a router of its own under
:mod:`grader.service.http.routes`, added to :data:`ROUTERS` (or passed as
``extra``); its routes reach the runtime through :data:`deps.Runtime`.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool

from ...__about__ import __version__
from ..metrics import make_registry
from ..runtime import ServiceRuntime
from .group_commit import GroupCommit
from .handlers import add_handlers
from .routes import health, lti, pages, submissions

ROUTERS: list[APIRouter] = [submissions.router, health.router, pages.router, lti.router]


def create_app(runtime: ServiceRuntime, extra: Sequence[APIRouter] = ()) -> FastAPI:
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
    app.state.group_commit = GroupCommit(runtime)
    app.state.metrics = make_registry(runtime.store)
    add_handlers(app)
    for router in [*ROUTERS, *extra]:
        app.include_router(router)
    return app
