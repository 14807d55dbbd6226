"""The route table: every URL of the service, in one list (docs/protocol.md lists them too).

Endpoints are plain module-level functions, one module per resource; they read the app's
:class:`~coordinator.context.AppContext` and raise :class:`~coordinator.routes.errors.ApiError`
(or let the store's errors through), which :mod:`coordinator.routes.errors` renders.
"""

from __future__ import annotations

from functools import partial

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from coordinator.routes import audit, calendar, cues, live, pages, scripts
from coordinator.web_files import WEB_DIR


def route_table() -> list[BaseRoute]:
    return [
        Route("/", pages.index),
        Route("/coordinator", partial(pages.page, "coordinator")),
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
        Route("/api/cities/{city}/status", live.post_status, methods=["POST"]),
        Route("/api/log", audit.api_log),
        Route("/api/log.csv", audit.api_log),
        Route("/api/cues/{city}/log.csv", cues.cue_log_csv),
        Route("/api/cues/{city}/log.vtt", cues.cue_log_vtt),
        Route("/api/cues/{city}/script", scripts.get_script, methods=["GET"]),
        Route("/api/cues/{city}/script", scripts.put_script, methods=["PUT"]),
        Route("/api/cues/{city}/{action}", cues.post_cue, methods=["POST"]),
        Route("/api/drift", cues.api_drift),
        WebSocketRoute("/ws", live.websocket),
        Mount("/static", StaticFiles(directory=WEB_DIR), name="static"),
    ]
