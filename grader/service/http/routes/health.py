"""``/healthz`` and ``/metrics``: what a load balancer and a monitoring system read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ....__about__ import __version__
from ...metrics import metrics_text
from ..deps import Runtime
from ..views import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz(runtime: Runtime) -> Response:
    """200 when the database (and the broker, if any) answer; 503 otherwise."""
    problem = runtime.problem()
    health = Health(status="unavailable" if problem else "ok", mode=runtime.dispatcher.mode,
                    version=__version__, problem=problem)  # fmt: skip
    return JSONResponse(health.model_dump(), status_code=503 if problem else 200)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format (no authentication: keep it on the monitoring network)."""
    return Response(metrics_text(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
