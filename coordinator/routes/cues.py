"""Cues over HTTP: GO from other gear, the cue logs, and the drift between cities."""

from __future__ import annotations

import asyncio
import functools
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import cue_log, drift, protocol, scripts
from coordinator.caching import CachedBody, strong_etag
from coordinator.context import AppContext, context
from coordinator.routes.common import (
    conditional,
    json_object,
    path_city,
    read_body,
    require_token,
)
from coordinator.routes.errors import ApiError


def city_script(request: Request) -> tuple[str, scripts.Script]:
    """The path's city and its current script; not_found when it runs no surtitles."""
    city_id = path_city(request)
    script = context(request).store.scripts.get(city_id)
    if script is None:
        raise ApiError("not_found", f"{city_id} has no cue script")
    return city_id, script


async def post_cue(request: Request) -> Response:
    """GO from a button box, a Stream Deck or a script: the cue command over HTTP. Without an
    ``id`` each request is a new press."""
    city_id, action = request.path_params["city"], request.path_params["action"]
    record = await require_token(request)
    raw = json_object(await read_body(request), empty_ok=True)
    raw.setdefault("id", "http-" + secrets.token_hex(6))
    message = protocol.parse_client_object(
        {**raw, "type": "cue", "city": city_id, "action": action}
    )
    assert isinstance(message, protocol.CueCommand)
    ack = await context(request).commands.execute(message, record)
    return JSONResponse(ack.message())


async def cue_log_csv(request: Request) -> Response:
    city_id, script = city_script(request)
    ctx = context(request)
    key = ("csv", city_id, script.version)
    cached = await ctx.exports.get(key, functools.partial(_build_csv, ctx, city_id, script))
    return conditional(request, cached, "text/csv; charset=utf-8", filename=f"{city_id}-cues.csv")


async def cue_log_vtt(request: Request) -> Response:
    city_id, script = city_script(request)
    wanted = request.query_params.get("lang")
    languages = tuple(wanted.split(",")) if wanted else script.languages
    if len(set(languages)) != len(languages):
        raise ApiError("invalid", "lang: a language is given twice", field="lang")
    ctx = context(request)
    key = ("vtt", city_id, script.version, languages)
    try:
        cached = await ctx.exports.get(
            key, functools.partial(_build_vtt, ctx, city_id, script, languages)
        )
    except ValueError as exc:
        raise ApiError("invalid", f"lang: {exc}", field="lang") from None
    return conditional(request, cached, "text/vtt; charset=utf-8", filename=f"{city_id}-cues.vtt")


# Exports are built once per change of the cue logs (the cache is dropped on every cue
# event), off the event loop: twelve clients fetching a 2,500-line log in a loop took a
# coordinator's ack from 3 ms to 1.5 s when each request built its own.


async def _build_csv(ctx: AppContext, city_id: str, script: scripts.Script) -> CachedBody:
    entries = await ctx.store.cue_log(city_id)
    body = await asyncio.to_thread(cue_log.cue_log_csv, entries, script)
    return _body(body)


async def _build_vtt(
    ctx: AppContext, city_id: str, script: scripts.Script, languages: tuple[str, ...]
) -> CachedBody:
    entries = await ctx.store.cue_log(city_id)
    body = await asyncio.to_thread(cue_log.cue_log_vtt, entries, script, languages)
    return _body(body)


def _body(text: str) -> CachedBody:
    data = text.encode("utf-8")
    return CachedBody(body=data, etag=strong_etag(data))


async def api_drift(request: Request) -> Response:
    ctx = context(request)
    reference = request.query_params.get("reference", ctx.config.cities[0].id)
    if ctx.config.city(reference) is None:
        raise ApiError("invalid", f"reference: no city {reference!r}", field="reference")
    # The hub's shared snapshot: no store lock (and no database read) between two events.
    board = (await ctx.hub.snapshot()).board
    if reference not in board.scripts:
        raise ApiError("invalid", f"reference: {reference} runs no surtitles", field="reference")
    cached = await ctx.exports.get(
        ("drift", reference), functools.partial(_build_drift, ctx, reference)
    )
    return conditional(request, cached, "application/json")


async def _build_drift(ctx: AppContext, reference: str) -> CachedBody:
    board = (await ctx.hub.snapshot()).board
    logs = {city_id: await ctx.store.cue_log(city_id) for city_id in board.scripts}
    ref_index = board.public_view(reference)["index"]
    result = {}
    for city_id in board.scripts:
        index = board.public_view(city_id)["index"]
        found = drift.drift(logs[city_id], index, logs[reference], ref_index)
        if found is None:
            continue  # one of the two has not begun: no drift to tell
        result[city_id] = {**found.as_json(), "count": board.state(city_id).count}
    return _body(protocol.encode({"reference": reference, "cities": result}))
