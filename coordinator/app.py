"""``create_app()``: routes, lifespan and static files. No logic of its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import io
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from coordinator import auth, drift, ical_feed, pages, protocol, qr, schedule, views
from coordinator import config as config_mod
from coordinator import cue_log as cue_log_mod
from coordinator import scripts as script_files
from coordinator.caching import CachedBody, VersionedCache, strong_etag
from coordinator.limits import Limits
from coordinator.logs import AccessLog
from coordinator.osc import OscServer
from coordinator.protocol import ProtocolError, StatusCommand
from coordinator.realtime import PUBLIC, Hub
from coordinator.rules import Role
from coordinator.security import SecurityHeaders
from coordinator.state.base import ScriptUpload, Store, StoredEvent
from coordinator.state.sqlite import SqliteStore

WEB_DIR = Path(__file__).resolve().parent / "web"
log = logging.getLogger("coordinator")


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start; built by the CLI or by tests."""

    config_path: Path = Path("config/cities.yaml")
    data_dir: Path = Path("data")
    secrets_path: Path | None = None
    redis_url: str | None = None
    redis_prefix: str | None = None
    demo: bool = False
    demo_lead: timedelta = timedelta(minutes=10)
    limits: Limits = field(default_factory=Limits)
    allowed_origins: tuple[str, ...] = ()
    osc_port: int | None = None  # UDP; off unless set
    osc_host: str = "127.0.0.1"
    web_dir: Path = WEB_DIR


def load_config(settings: Settings) -> config_mod.Config:
    """Load the config, shifted to start soon after now in demo mode."""
    cfg = config_mod.load(settings.config_path)
    if settings.demo:
        cfg = config_mod.shifted_for_demo(cfg, datetime.now(UTC), settings.demo_lead)
    return cfg


HTTP_STATUS_OF_ERROR = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "unavailable": 503,
}


def load_scripts(cfg: config_mod.Config) -> dict[str, script_files.Script]:
    """Every city's cue script named in the config. Raises ``scripts.ScriptError``."""
    scripts = {}
    for city in cfg.cities:
        if city.surtitles is not None and city.surtitles.script is not None:
            scripts[city.id] = script_files.load_script(city.surtitles.script)
    return scripts


def make_store(cfg: config_mod.Config, settings: Settings) -> Store:
    """The Redis store when a Redis URL is set, else the embedded SQLite store."""
    if settings.redis_url:
        from coordinator.state.redis import RedisStore  # imported only when used

        return RedisStore(cfg, settings.redis_url, settings.redis_prefix)
    return SqliteStore(cfg, settings.data_dir)


def settings_from_env() -> Settings:
    """Settings from ``COORDINATOR_*`` variables: how each ``--workers`` process gets them."""
    env = os.environ
    secrets = env.get("COORDINATOR_SECRETS")
    return Settings(
        config_path=Path(env.get("COORDINATOR_CONFIG", "config/cities.yaml")),
        data_dir=Path(env.get("COORDINATOR_DATA_DIR", "data")),
        secrets_path=Path(secrets) if secrets else None,
        redis_url=env.get("REDIS_URL") or None,
        redis_prefix=env.get("COORDINATOR_REDIS_PREFIX") or None,
        osc_port=int(env["COORDINATOR_OSC_PORT"]) if env.get("COORDINATOR_OSC_PORT") else None,
        osc_host=env.get("COORDINATOR_OSC_HOST", "127.0.0.1"),
        demo=env.get("COORDINATOR_DEMO") == "1",
        limits=Limits().with_overrides(
            [p for p in env.get("COORDINATOR_LIMITS", "").split(",") if p]
        ),
        allowed_origins=tuple(
            o for o in env.get("COORDINATOR_ALLOWED_ORIGINS", "").split(",") if o
        ),
    )


def app_from_env() -> Starlette:
    """The ASGI app factory for ``uvicorn --factory`` and for ``coordinator serve --workers``."""
    from coordinator import logs

    logs.configure(os.environ.get("COORDINATOR_LOG_LEVEL", "INFO").upper())
    return create_app(settings_from_env())


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """Build the ASGI app. Raises ``config.ConfigError`` or ``scripts.ScriptError`` on bad files.

    ``store`` defaults to the embedded SQLite store in ``settings.data_dir``.
    """
    cfg = load_config(settings)
    scripts = load_scripts(cfg)
    index_template = (settings.web_dir / "index.html").read_text(encoding="utf-8")
    store = store or make_store(cfg, settings)
    for city_id, script in scripts.items():
        store.set_script(city_id, script)
    tokens = auth.TokenBook(auth.secrets_path_from_env(settings.secrets_path))
    origins = settings.allowed_origins
    if cfg.event.public_url:
        origins = (*origins, cfg.event.public_url)
    hub = Hub(store, tokens, settings.limits, origins)
    # Polled bodies, rebuilt only after a change: any event for the state, status events
    # (time, cancellation, note) for the calendar feeds.
    config_mtime = datetime.fromtimestamp(int(settings.config_path.stat().st_mtime), UTC)
    state_cache = VersionedCache()
    feed_cache = VersionedCache()

    async def invalidate_caches(event: StoredEvent) -> None:
        state_cache.invalidate()
        if event.kind == "status":
            feed_cache.invalidate()

    store.subscribe(invalidate_caches)

    async def reset_caches() -> None:
        state_cache.invalidate()
        feed_cache.invalidate()

    store.on_reset(reset_caches)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        for city_id, upload in (await store.stored_scripts()).items():
            if cfg.city(city_id) is None:
                continue
            try:
                store.set_script(city_id, upload.parse(city_id))
            except script_files.ScriptError as exc:
                log.error("the uploaded script of %s no longer loads: %s", city_id, exc)
        transport = None
        if settings.osc_port is not None:

            async def osc_command(token: str, command: protocol.CueCommand) -> dict[str, Any]:
                return await hub.execute(command, tokens.lookup(token))

            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: OscServer(osc_command), local_addr=(settings.osc_host, settings.osc_port)
            )
            log.info("OSC listening on udp %s:%d", settings.osc_host, settings.osc_port)
        try:
            yield
        finally:
            if transport is not None:
                transport.close()
            await store.close()

    def bearer(request: Request) -> auth.TokenRecord | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return tokens.lookup(token.strip())

    def error_response(code: str, message: str, command_id: str | None = None) -> Response:
        return JSONResponse(
            {"type": "error", "id": command_id, "code": code, "message": message},
            status_code=HTTP_STATUS_OF_ERROR.get(code, 400),
        )

    def command_sender(request: Request) -> auth.TokenRecord | Response:
        """The token of an HTTP command, or the error to answer: no token, or over its rate."""
        record = bearer(request)
        if record is None:
            return error_response("unauthorized", "send Authorization: Bearer TOKEN")
        if not hub.token_allows(record):
            return error_response("rate_limited", "too many commands; slow down")
        return record

    async def post_status(request: Request) -> Response:
        record = command_sender(request)
        if isinstance(record, Response):
            return record
        body = await request.body()
        try:
            raw = protocol.decode_json(body)
            if not isinstance(raw, dict):
                raise ProtocolError("the body must be a JSON object")
            if "city" in raw and raw["city"] != request.path_params["city"]:
                raise ProtocolError("status.city: does not match the city in the path")
            message = protocol.parse_client_object(
                {**raw, "type": "status", "city": request.path_params["city"]}
            )
        except ProtocolError as exc:
            return error_response(exc.code, exc.message, exc.id)
        assert isinstance(message, StatusCommand)
        reply = await hub.execute(message, record)
        if reply["type"] == "error":
            return error_response(reply["code"], reply["message"], reply["id"])
        return JSONResponse(reply)

    async def build_state() -> CachedBody:
        snap = await store.snapshot()
        body = protocol.encode(hub.snapshot_message(snap, PUBLIC)).encode("utf-8")
        return CachedBody(body=body, etag=strong_etag(body))

    async def api_state(request: Request) -> Response:
        cached = await state_cache.get("state", build_state)
        return conditional(request, cached, "application/json")

    async def feed_response(request: Request, city_ids: tuple[str, ...] | None) -> Response:
        base = str(request.base_url).rstrip("/")

        async def build() -> CachedBody:
            statuses = (await store.snapshot()).statuses
            body = ical_feed.build_feed(cfg, statuses, base_url=base, city_ids=city_ids)
            # An edit of the config changes the bytes without a status change: the file's
            # time keeps Last-Modified honest for clients that revalidate by date.
            modified = max(
                ical_feed.feed_last_modified(cfg, statuses, city_ids=city_ids), config_mtime
            )
            return CachedBody(body=body, etag=strong_etag(body), last_modified=modified)

        cached = await feed_cache.get((city_ids, base), build)
        return conditional(request, cached, "text/calendar; charset=utf-8")

    async def calendar_all(request: Request) -> Response:
        return await feed_response(request, None)

    async def calendar_city(request: Request) -> Response:
        city_id = request.path_params["city"]
        if cfg.city(city_id) is None:
            return PlainTextResponse(f"no city {city_id!r} in this event", status_code=404)
        return await feed_response(request, (city_id,))

    async def api_log(request: Request) -> Response:
        record = bearer(request)
        if record is None:
            return error_response("unauthorized", "send Authorization: Bearer TOKEN")
        if record.role is not Role.ADMIN:
            return error_response("forbidden", "the audit log is for admins")
        entries = await store.audit(request.query_params.get("city"))
        if request.url.path.endswith(".csv"):
            return download(audit_csv([e.as_dict() for e in entries]), "text/csv", "audit-log.csv")
        return JSONResponse({"entries": [e.as_dict() for e in entries]})

    def cue_city(request: Request) -> tuple[str, script_files.Script] | Response:
        city_id = request.path_params["city"]
        if cfg.city(city_id) is None:
            return error_response("not_found", f"no city {city_id!r} in this event")
        script = store.scripts.get(city_id)
        if script is None:
            return error_response("not_found", f"{city_id} has no cue script")
        return city_id, script

    async def cue_log_csv(request: Request) -> Response:
        found = cue_city(request)
        if isinstance(found, Response):
            return found
        city_id, script = found
        body = cue_log_mod.cue_log_csv(await store.cue_log(city_id), script)
        return download(body, "text/csv", f"{city_id}-cues.csv")

    async def cue_log_vtt(request: Request) -> Response:
        found = cue_city(request)
        if isinstance(found, Response):
            return found
        city_id, script = found
        wanted = request.query_params.get("lang")
        languages = wanted.split(",") if wanted else list(script.languages)
        try:
            body = cue_log_mod.cue_log_vtt(await store.cue_log(city_id), script, languages)
        except ValueError as exc:
            return error_response("invalid", f"lang: {exc}")
        return download(body, "text/vtt", f"{city_id}-cues.vtt")

    async def get_script(request: Request) -> Response:
        found = cue_city(request)
        if isinstance(found, Response):
            return found
        city_id, script = found
        record = bearer(request)
        if record is None:
            return error_response("unauthorized", "send Authorization: Bearer TOKEN")
        if not record.actor().may_cue(city_id):
            return error_response("forbidden", f"only {city_id}'s operator or an admin")
        return JSONResponse(script.as_json())

    async def put_script(request: Request) -> Response:
        """An admin replaces a city's script; the channel keeps its position."""
        city_id = request.path_params["city"]
        if cfg.city(city_id) is None:
            return error_response("not_found", f"no city {city_id!r} in this event")
        record = bearer(request)
        if record is None:
            return error_response("unauthorized", "send Authorization: Bearer TOKEN")
        if record.role is not Role.ADMIN:
            return error_response("forbidden", "only an admin uploads scripts")
        body = await request.body()
        if len(body) > MAX_SCRIPT_BYTES:
            return error_response("invalid", f"the script is over {MAX_SCRIPT_BYTES} bytes")
        try:
            upload, script = script_upload(
                city_id, request.headers.get("content-type", ""), request, body
            )
        except script_files.ScriptError as exc:
            return JSONResponse(
                {"type": "error", "id": None, "code": "invalid", "message": exc.problems[0],
                 "problems": exc.problems},
                status_code=400,
            )  # fmt: skip
        except ProtocolError as exc:
            return error_response(exc.code, exc.message)
        except ValueError as exc:
            return error_response("invalid", str(exc))
        current = (await store.snapshot()).board.state(city_id)
        await store.save_script(city_id, upload)
        store.set_script(city_id, script)
        info = {"count": len(script.cues), "version": script.version,
                "languages": list(script.languages)}  # fmt: skip
        if current.follows is not None:
            # Its screens show the leader's script; the new one applies when it unfollows.
            return JSONResponse({"type": "ack", "id": None, "seq": None, **info})
        # Re-show the same position with the new text: one cue event, in seq order, for all.
        # A fresh id per upload: an id derived from the content would be taken for a retry
        # when the same script is uploaded again (a revert) or to another city.
        reload = protocol.CueCommand(
            id=f"script-{secrets.token_hex(8)}", city=city_id, action="refresh"
        )
        reply = await hub.execute(reload, record)
        if reply["type"] == "error":
            return error_response(reply["code"], reply["message"])
        return JSONResponse({**reply, **info})

    async def post_cue(request: Request) -> Response:
        """GO from a button box, a Stream Deck or a script: the cue command over HTTP."""
        city_id, action = request.path_params["city"], request.path_params["action"]
        record = command_sender(request)
        if isinstance(record, Response):
            return record
        body = await request.body()
        try:
            raw = protocol.decode_json(body) if body.strip() else {}
            if not isinstance(raw, dict):
                raise ProtocolError("the body must be a JSON object")
            raw.setdefault("id", "http-" + secrets.token_hex(6))
            message = protocol.parse_client_object(
                {**raw, "type": "cue", "city": city_id, "action": action}
            )
        except ProtocolError as exc:
            return error_response(exc.code, exc.message, exc.id)
        assert isinstance(message, protocol.CueCommand)
        reply = await hub.execute(message, record)
        if reply["type"] == "error":
            return error_response(reply["code"], reply["message"], reply["id"])
        return JSONResponse(reply)

    async def api_drift(request: Request) -> Response:
        reference = request.query_params.get("reference", cfg.cities[0].id)
        if cfg.city(reference) is None:
            return error_response("invalid", f"reference: no city {reference!r}")
        channels = (await store.snapshot()).board
        if reference not in channels.scripts:
            return error_response("invalid", f"reference: {reference} runs no surtitles")
        ref_log = await store.cue_log(reference)
        ref_index = channels.public_view(reference)["index"]
        result = {}
        for city_id in channels.scripts:
            index = channels.public_view(city_id)["index"]
            found = drift.drift(await store.cue_log(city_id), index, ref_log, ref_index)
            if found is None:
                continue  # one of the two has not begun: no drift to tell
            result[city_id] = {**found.as_json(), "count": channels.state(city_id).count}
        return JSONResponse({"reference": reference, "cities": result})

    async def page(request: Request) -> Response:
        name = request.scope["route"].name
        city_id = request.path_params.get("city")
        if city_id is not None and cfg.city(city_id) is None:
            return PlainTextResponse(f"no city {city_id!r} in this event", status_code=404)
        return HTMLResponse((settings.web_dir / f"{name}.html").read_text(encoding="utf-8"))

    async def follow_qr(request: Request) -> Response:
        """A QR code (SVG) of the city's /follow page, for the projector before the reading."""
        city_id = request.path_params["city"]
        if cfg.city(city_id) is None:
            return PlainTextResponse(f"no city {city_id!r} in this event", status_code=404)
        base = cfg.event.public_url or str(request.base_url).rstrip("/")
        return Response(
            qr.qr_svg(f"{base}/follow/{city_id}"),
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=300"},
        )

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
        body = index_template.replace("<!--SCHEDULE-->", pages.render_schedule(cfg))
        return HTMLResponse(body)

    routes = [
        Route("/", index),
        Route("/coordinator", page, name="coordinator"),
        Route("/operator/{city}", page, name="operator"),
        Route("/display/{city}", page, name="display"),
        Route("/follow/{city}", page, name="follow"),
        Route("/cities/{city}/follow-qr.svg", follow_qr),
        Route("/healthz", healthz),
        Route("/api/cities", api_cities),
        Route("/api/state", api_state),
        Route("/calendar.ics", calendar_all),
        Route("/cities/{city}/calendar.ics", calendar_city),
        Route("/api/cities/{city}/status", post_status, methods=["POST"]),
        Route("/api/log", api_log),
        Route("/api/log.csv", api_log),
        Route("/api/cues/{city}/log.csv", cue_log_csv),
        Route("/api/cues/{city}/log.vtt", cue_log_vtt),
        Route("/api/cues/{city}/script", get_script, methods=["GET"]),
        Route("/api/cues/{city}/script", put_script, methods=["PUT"]),
        Route("/api/cues/{city}/{action}", post_cue, methods=["POST"]),
        Route("/api/drift", api_drift),
        WebSocketRoute("/ws", hub.endpoint),
        Mount("/static", StaticFiles(directory=settings.web_dir), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders)],
    )
    app.state.config = cfg
    app.state.settings = settings
    app.state.store = store
    app.state.hub = hub
    return app


def download(body: str, media_type: str, filename: str) -> Response:
    """A UTF-8 text file the browser saves under ``filename``."""
    return PlainTextResponse(
        body,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def conditional(request: Request, cached: CachedBody, media_type: str) -> Response:
    """The cached body, or 304 when the client's copy is current (If-None-Match first)."""
    headers = {"ETag": cached.etag, "Cache-Control": "no-cache"}
    if cached.last_modified_http:
        headers["Last-Modified"] = cached.last_modified_http
    last_modified = cached.last_modified or datetime.max.replace(tzinfo=UTC)
    if ical_feed.not_modified(
        cached.etag,
        last_modified,
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since") if cached.last_modified else None,
    ):
        return Response(status_code=304, headers=headers)
    return Response(cached.body, media_type=media_type, headers=headers)


MAX_SCRIPT_BYTES = 2 * 1024 * 1024
SCRIPT_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


def script_upload(
    city_id: str, content_type: str, request: Request, body: bytes
) -> tuple[ScriptUpload, script_files.Script]:
    """Read an upload: a CSV/TSV/YAML/xlsx body (its type from Content-Type or ``?format=``;
    ``?sheet=`` names an xlsx sheet), or
    JSON ``{"format": "srt"|"vtt", "files": {"en": "...", "fr": "..."}}``. Raises ValueError
    or ``scripts.ScriptError``."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        data = protocol.decode_json_document(body)
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ValueError('a JSON upload is {"format": "srt", "files": {"en": ..., "fr": ...}}')
        kind = str(data.get("format", ""))
        files = data["files"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("files: each language maps to the text of its file")
    else:
        kind = request.query_params.get("format") or SCRIPT_CONTENT_TYPES.get(media, "")
        if not kind:
            raise ValueError("say the format: Content-Type text/csv, or ?format=csv|tsv|yaml|xlsx")
        if kind == "xlsx":  # kept as base64, keyed by the sheet to read ("" for the first)
            sheet = request.query_params.get("sheet", "")
            files = {sheet: base64.b64encode(body).decode("ascii")}
        try:
            files = files if kind == "xlsx" else {"": body.decode("utf-8")}
        except UnicodeDecodeError as exc:
            raise script_files.ScriptError([f"upload: not UTF-8 text (byte {exc.start})"]) from None
    script = script_files.parse_upload(kind, files, name=f"{city_id}-upload")
    return ScriptUpload(format=kind, files=files, version=script.version), script


def audit_csv(rows: list[dict[str, Any]]) -> str:
    """The audit log as CSV; cells that a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    fields = ["seq", "at", "role", "actor", "city", "kind", "from", "to", "note", "command_id"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v)
                for k, v in row.items()
            }
        )
    return out.getvalue()
