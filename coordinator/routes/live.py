"""The live state: the websocket, the polled snapshot, and status changes over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from coordinator import protocol
from coordinator.caching import CachedBody, strong_etag
from coordinator.context import AppContext, context
from coordinator.protocol import ProtocolError, StatusCommand
from coordinator.routes.common import conditional, json_object, read_body, require_token
from coordinator.service import PUBLIC


class WebsocketEndpoint:
    """``/ws`` as a plain ASGI app. Starlette wraps a function endpoint in a session closure
    and an exception wrapper, coroutines that every viewer would hold for as long as it is
    connected, and a wrapper on every send; the session handles its own errors."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        ws = WebSocket(scope, receive=receive, send=send)
        return context(ws).sessions.run(ws)


websocket = WebsocketEndpoint()


async def api_state(request: Request) -> Response:
    ctx = context(request)
    cached = await ctx.state_cache.get("state", lambda: _build_state(ctx))
    return conditional(request, cached, "application/json")


async def _build_state(ctx: AppContext) -> CachedBody:
    snap = await ctx.store.snapshot()
    body = protocol.encode(ctx.hub.snapshot_message(snap, PUBLIC)).encode("utf-8")
    return CachedBody(body=body, etag=strong_etag(body))


async def post_status(request: Request) -> Response:
    """A coordinator's status change: the websocket's ``status`` message over HTTP."""
    city_id = request.path_params["city"]
    record = await require_token(request)
    raw = json_object(await read_body(request))
    if "city" in raw and raw["city"] != city_id:
        raise ProtocolError("status.city: does not match the city in the path")
    message = protocol.parse_client_object({**raw, "type": "status", "city": city_id})
    assert isinstance(message, StatusCommand)
    ack = await context(request).commands.execute(message, record)
    return JSONResponse(ack.message())
