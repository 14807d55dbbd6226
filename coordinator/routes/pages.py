"""The HTML pages, the projector's QR code, and the health checks."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from coordinator import pages, qr
from coordinator.context import context
from coordinator.routes.common import path_city
from coordinator.routes.errors import ApiError
from coordinator.routes.hosts import link_base
from coordinator.web_files import read_page

MAX_QR_CODES = 64  # one per city and name of the server: a handful


async def index(request: Request) -> Response:
    """The dashboard, with the schedule rendered in (readable without JavaScript)."""
    ctx = context(request)
    body = ctx.index_template.replace("<!--SCHEDULE-->", pages.render_schedule(ctx.config))
    return HTMLResponse(body)


async def page(name: str, request: Request) -> Response:
    """A static page (``name``.html); ``{city}`` in its path must be one of the event's."""
    if "city" in request.path_params:
        path_city(request)
    return HTMLResponse(read_page(name))


async def follow_qr(request: Request) -> Response:
    """A QR code (SVG) of the city's /follow page, for the projector before the reading
    (``?channel=rehearsal``: of its rehearsal phone page, for the rehearsal projector):
    drawn once per address (0.2-0.5 s of CPU each), in a thread."""
    city_id = path_city(request)
    rehearsal = request.query_params.get("channel") == "rehearsal"
    url = f"{link_base(request)}/follow/{city_id}{'?channel=rehearsal' if rehearsal else ''}"
    drawn = context(request).qr_codes
    svg = drawn.get(url)
    if svg is None:
        svg = await asyncio.to_thread(qr.qr_svg, url)
        if len(drawn) >= MAX_QR_CODES:
            drawn.clear()
        drawn[url] = svg
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "max-age=300"},
    )


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Readiness: 200 ``ready``, or 503 while the store cannot take commands (Redis down, or
    failing over to a new primary), so a load balancer sends no one to a process that cannot
    take commands; restarting it would not help, which is why ``/healthz`` stays ok."""
    if not await context(request).store.ready():
        raise ApiError("unavailable", "not ready: the store is unreachable")
    return PlainTextResponse("ready")
