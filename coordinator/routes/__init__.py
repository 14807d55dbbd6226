"""The route table: every URL of the service, in one list (docs/protocol.md lists them too).

Endpoints are plain module-level functions, one module per resource; they read the app's
:class:`~coordinator.context.AppContext` and raise :class:`~coordinator.routes.errors.ApiError`
(or let the store's errors through), which :mod:`coordinator.routes.errors` renders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from functools import partial

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from coordinator.routes import (
    audit,
    calendar,
    cities,
    cues,
    live,
    pages,
    report,
    scripts,
    tokens,
)
from coordinator.web_files import WEB_DIR


def route_table() -> list[BaseRoute]:
    return [
        Route("/", pages.index),
        Route("/coordinator", partial(pages.page, "coordinator")),
        Route("/admin", partial(pages.page, "admin")),
        Route("/operator/{city}", partial(pages.page, "operator")),
        Route("/display/{city}", partial(pages.page, "display")),
        Route("/follow/{city}", partial(pages.page, "follow")),
        Route("/cities/{city}/follow-qr.svg", pages.follow_qr),
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Route("/api/cities", calendar.api_cities),
        Route("/calendar.ics", calendar.calendar_all),
        Route("/cities/{city}/calendar.ics", calendar.calendar_city),
        Route("/api/state", live.api_state),
        Route("/api/cities/{city}", cities.patch_city, methods=["PATCH"]),
        Route("/api/cities/{city}/status", live.post_status, methods=["POST"]),
        Route("/api/log", audit.api_log),
        Route("/api/log.csv", audit.api_log),
        Route("/api/cues/{city}/log.csv", cues.cue_log_csv),
        Route("/api/cues/{city}/log.vtt", cues.cue_log_vtt),
        Route("/api/cues/{city}/script", scripts.get_script, methods=["GET"]),
        Route("/api/cues/{city}/script", scripts.put_script, methods=["PUT"]),
        Route("/api/cues/{city}/script/check", scripts.check_script, methods=["POST"]),
        Route("/api/cues/{city}/{action}", cues.post_cue, methods=["POST"]),
        Route("/api/drift", cues.api_drift),
        Route("/api/connections", report.api_connections),
        Route("/api/report", report.api_report),
        Route("/api/report.csv", report.api_report),
        Route("/report", partial(pages.page, "report")),
        Route("/api/tokens", tokens.list_tokens, methods=["GET"]),
        Route("/api/tokens", tokens.create_token, methods=["POST"]),
        Route("/api/tokens/{token_id}", tokens.delete_token, methods=["DELETE"]),
        WebSocketRoute("/ws", live.websocket),
        Mount("/static", StaticFiles(directory=WEB_DIR), name="static"),
    ]


class DirectWebsockets:
    """ASGI middleware, the outermost of ours: a websocket on the path of a websocket route
    of the table goes straight to that route's endpoint. Starlette's exception middleware and
    router do nothing for a websocket, but every open one would hold their coroutines and
    closures (about 2 KB) and every frame sent to it would pass through their wrappers. The
    routes are still declared once, above; anything else takes the usual way."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.endpoints = {
            route.path: route.app
            for route in routes
            if isinstance(route, WebSocketRoute) and not route.param_convertors
        }

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                return endpoint(scope, receive, send)
        return self.app(scope, receive, send)
