"""``create_app(settings)``: the services onto ``app.state``, the lifespan, the routes and the
middleware. No endpoint and no rule lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from coordinator import auth, scripts
from coordinator import config as config_mod
from coordinator.context import AppContext
from coordinator.logs import AccessLog
from coordinator.osc import OscServer
from coordinator.protocol import CueCommand
from coordinator.proxy import ForwardedHeaders, TrustedPeers
from coordinator.realtime import Hub, Sessions
from coordinator.realtime.counting import publish_counts_forever
from coordinator.routes import DirectWebsockets, route_table
from coordinator.routes.errors import EXCEPTION_HANDLERS
from coordinator.security import SecurityHeaders
from coordinator.service import CommandError, CommandService
from coordinator.settings import Settings
from coordinator.state.base import Store
from coordinator.state.sqlite import SqliteStore
from coordinator.tcp_guard import GUARD_KEY, TcpGuard, log_accept_errors
from coordinator.web_files import read_page

log = logging.getLogger("coordinator")


def load_config(settings: Settings) -> config_mod.Config:
    """Load the config, shifted to start soon after now in demo mode."""
    cfg = config_mod.load(settings.config_path)
    if settings.demo:
        cfg = config_mod.shifted_for_demo(cfg, datetime.now(UTC), settings.demo_lead)
    return cfg


def load_scripts(cfg: config_mod.Config) -> dict[str, scripts.Script]:
    """Every city's cue script named in the config. Raises ``scripts.ScriptError``."""
    found = {}
    for city in cfg.cities:
        if city.surtitles is not None and city.surtitles.script is not None:
            found[city.id] = scripts.load_script(city.surtitles.script)
    return found


def make_store(cfg: config_mod.Config, settings: Settings) -> Store:
    """The Redis store when a Redis URL is set, else the embedded SQLite store."""
    if settings.redis_url:
        from coordinator.state.redis import RedisStore  # imported only when used
        from coordinator.state.redis_connect import tls_options

        tls = tls_options(settings.redis_url, settings.redis_tls_ca, settings.redis_tls_no_verify)
        return RedisStore(
            cfg,
            settings.redis_url,
            settings.redis_prefix,
            tls,
            min_replicas=settings.redis_min_replicas,
        )
    return SqliteStore(cfg, settings.data_dir)


def app_from_env() -> Starlette:
    """The ASGI app factory for ``uvicorn --factory`` and for ``coordinator serve --workers``."""
    from coordinator import logs

    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level.upper(), settings.log_format)
    return create_app(settings)


def build_context(settings: Settings, store: Store | None = None) -> AppContext:
    """Everything the endpoints share. Raises ``config.ConfigError`` or ``scripts.ScriptError``
    on bad files; ``store`` defaults to the one the settings name."""
    cfg = load_config(settings)
    store = store or make_store(cfg, settings)
    for city_id, script in load_scripts(cfg).items():
        store.set_script(city_id, script)
    tokens = auth.TokenBook(auth.secrets_path_from_env(settings.secrets_path))  # to import
    origins = settings.allowed_origins
    if cfg.event.public_url:
        origins = (*origins, cfg.event.public_url)
    commands = CommandService(store, tokens, settings.limits)
    hub = Hub(store, settings.limits)
    ctx = AppContext(
        settings=settings,
        store=store,
        tokens=tokens,
        commands=commands,
        hub=hub,
        sessions=Sessions(hub, commands, origins),
        config_mtime=datetime.fromtimestamp(int(settings.config_path.stat().st_mtime), UTC),
        index_template=read_page("index"),
    )
    store.subscribe(ctx.on_event)
    store.on_reset(ctx.on_reset)
    tokens.on_revoked(hub.revoke)
    return ctx


class App(Starlette):
    """Starlette with the security headers outside its error handling: Starlette renders a
    500 in its outermost middleware, which no middleware of ours wraps, so a 500 went out
    without the headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """Build the ASGI app. Raises ``config.ConfigError`` or ``scripts.ScriptError`` on bad files."""
    ctx = build_context(settings, store)
    routes = route_table()
    app = App(  # App wraps everything, 500s included, in the security headers
        routes=routes,
        lifespan=Lifespan(ctx),
        middleware=[
            # Outermost: it needs the peer's own address, which it then replaces.
            Middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips),
            Middleware(DirectWebsockets, routes=routes),
            Middleware(AccessLog),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.context = ctx
    return app


class Lifespan:
    """Opens the store (and the OSC listener) when the server starts; closes them at stop,
    and gives the garbage collector back what the hub froze. The TCP guard it yields reaches
    uvicorn's protocols through the lifespan state."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @contextlib.asynccontextmanager
    async def __call__(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        log_accept_errors(asyncio.get_running_loop())
        settings = self.ctx.settings
        guard = TcpGuard.for_limits(
            settings.limits, proxies=TrustedPeers(settings.forwarded_allow_ips)
        )
        await self.ctx.store.open()
        await self.ctx.tokens.start(self.ctx.store)
        await restore_uploaded_scripts(self.ctx)
        transport = await start_osc(self.ctx)
        counting = asyncio.create_task(
            publish_counts_forever(self.ctx.hub, self.ctx.store), name="connection-counts"
        )
        try:
            yield {GUARD_KEY: guard}
        finally:
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting
            if transport is not None:
                transport.close()
            self.ctx.hub.collector.close()
            await self.ctx.tokens.stop()
            await self.ctx.store.close()


async def restore_uploaded_scripts(ctx: AppContext) -> None:
    """Scripts uploaded earlier replace the config's (a damaged one is logged and skipped)."""
    for city_id, upload in (await ctx.store.stored_scripts()).items():
        if ctx.config.city(city_id) is None:
            continue
        try:
            ctx.store.set_script(city_id, upload.parse(city_id))
        except scripts.ScriptError as exc:
            log.error("the uploaded script of %s no longer loads: %s", city_id, exc)


async def start_osc(ctx: AppContext) -> asyncio.DatagramTransport | None:
    """The OSC listener, when a port is set; it runs commands through the command service."""
    settings = ctx.settings
    if settings.osc_port is None:
        return None
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: OscServer(OscCommands(ctx.commands)),
        local_addr=(settings.osc_host, settings.osc_port),
    )
    log.info("OSC listening on udp %s:%d", settings.osc_host, settings.osc_port)
    return transport


class OscCommands:
    """OSC's way into the command service: a token and a cue command in, a result word out."""

    def __init__(self, commands: CommandService) -> None:
        self.commands = commands

    async def __call__(self, token: str, command: CueCommand) -> str:
        try:
            await self.commands.execute(command, self.commands.authenticate(token))
        except CommandError as exc:
            return exc.code
        return "ack"
