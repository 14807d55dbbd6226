"""DirectWebsockets: a websocket on a route's path goes straight to that route's endpoint
(no router, no exception wrapper held per socket); everything else takes the usual way."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.routing import Route, WebSocketRoute

from coordinator.routes import DirectWebsockets, route_table
from coordinator.routes.live import websocket
from tests.support.harness import run_async


class Recorder:
    """An ASGI app that notes what reached it."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(f"{self.name} {scope['type']} {scope['path']}")


def test_a_websocket_on_a_route_path_skips_the_router() -> None:
    seen: list[str] = []
    routes = [
        WebSocketRoute("/ws", Recorder("endpoint", seen)),
        WebSocketRoute("/ws/{room}", Recorder("with-params", seen)),
        Route("/ws", Recorder("http-route", seen)),
    ]
    app = DirectWebsockets(Recorder("router", seen), routes)

    async def receive() -> MutableMapping[str, Any]:
        return {}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def scenario() -> None:
        for kind, path in [("websocket", "/ws"), ("http", "/ws"), ("websocket", "/ws/a")]:
            await app({"type": kind, "path": path}, receive, send)

    run_async(scenario(), timeout_s=10)
    assert seen == ["endpoint websocket /ws", "router http /ws", "router websocket /ws/a"]


def test_the_live_websocket_is_dispatched_directly() -> None:
    app = DirectWebsockets(Recorder("router", []), route_table())
    assert app.endpoints == {"/ws": websocket}
