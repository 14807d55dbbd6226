"""The HTML pages, the projector's QR code, and the liveness check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from coordinator import pages, qr
from coordinator.context import context
from coordinator.routes.common import path_city
from coordinator.web_files import read_page


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
    """A QR code (SVG) of the city's /follow page, for the projector before the reading;
    ``?channel=rehearsal``: of its rehearsal phone page, for the rehearsal projector."""
    city_id = path_city(request)
    base = context(request).config.event.public_url or str(request.base_url).rstrip("/")
    rehearsal = request.query_params.get("channel") == "rehearsal"
    return Response(
        qr.qr_svg(f"{base}/follow/{city_id}{'?channel=rehearsal' if rehearsal else ''}"),
        media_type="image/svg+xml",
        headers={"Cache-Control": "max-age=300"},
    )


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")
