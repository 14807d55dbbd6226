"""Health checks for a platform or a supervisor. ``/healthz`` (in the route table) is
liveness: the process answers. ``/readyz`` is readiness: the store can take commands now, so
a load balancer sends no one to a process whose Redis is unreachable."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from coordinator.state.base import Store


async def readyz(request: Request) -> Response:
    """200 ``ready``, or 503 naming what is not (the store behind ``app.state.store``)."""
    store: Store = request.app.state.store
    if await store.ready():
        return PlainTextResponse("ready")
    return PlainTextResponse(
        "not ready: the store is unreachable", status_code=503, headers={"Retry-After": "5"}
    )
