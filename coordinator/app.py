"""``create_app()``: routes, lifespan and static files. No logic of its own."""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from coordinator import config as config_mod
from coordinator import schedule, views
from coordinator.logs import AccessLog

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start; built by the CLI or by tests."""

    config_path: Path = Path("config/cities.yaml")
    data_dir: Path = Path("data")
    secrets_path: Path | None = None
    demo: bool = False
    demo_lead: timedelta = timedelta(minutes=10)
    web_dir: Path = WEB_DIR
    extra: dict[str, str] = field(default_factory=dict)


def load_config(settings: Settings) -> config_mod.Config:
    """Load the config, shifted to start soon after now in demo mode."""
    cfg = config_mod.load(settings.config_path)
    if settings.demo:
        cfg = config_mod.shifted_for_demo(cfg, datetime.now(UTC), settings.demo_lead)
    return cfg


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app. Raises :class:`config.ConfigError` on a bad config file."""
    cfg = load_config(settings)
    index_template = (settings.web_dir / "index.html").read_text(encoding="utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def api_cities(request: Request) -> Response:
        zone = request.query_params.get("tz")
        if zone is not None and not schedule.is_known_zone(zone):
            return JSONResponse(
                {"error": "invalid", "field": "tz", "message": f"unknown time zone {zone!r}"},
                status_code=400,
            )
        return JSONResponse(views.cities_json(cfg, zone or cfg.cities[0].timezone))

    async def index(request: Request) -> Response:
        body = index_template.replace("<!--SCHEDULE-->", render_schedule(cfg))
        return HTMLResponse(body)

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/api/cities", api_cities),
        Mount("/static", StaticFiles(directory=settings.web_dir), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(AccessLog)])
    app.state.config = cfg
    app.state.settings = settings
    return app


def render_schedule(cfg: config_mod.Config) -> str:
    """The schedule as plain HTML, so the page is useful before (or without) JavaScript."""
    items = []
    for city in cfg.cities:
        local = schedule.view(city.start_utc, city.timezone)
        tbc = "" if city.confirmed else ' <span class="tbc" data-i18n="tbc">to be confirmed</span>'
        venue = f'<span class="venue">{html.escape(city.venue)}</span>' if city.venue else ""
        items.append(
            f'<li class="city" data-city="{html.escape(city.id)}">'
            f'<h2 class="city-name">{html.escape(city.name.get("en", city.id))}</h2> '
            f'<time class="start-local" datetime="{schedule.iso_utc(city.start_utc)}">'
            f"{local.local:%H:%M} {html.escape(local.abbreviation)}</time>{tbc} {venue}</li>"
        )
    return "\n".join(items)
