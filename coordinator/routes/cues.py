"""Cues over HTTP: GO from other gear, the cue logs, and the drift between cities."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import cue_log, drift, protocol, scripts
from coordinator.context import context
from coordinator.routes.common import download, json_object, path_city, require_token
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
    record = require_token(request)
    raw = json_object(await request.body(), empty_ok=True)
    raw.setdefault("id", "http-" + secrets.token_hex(6))
    message = protocol.parse_client_object(
        {**raw, "type": "cue", "city": city_id, "action": action}
    )
    assert isinstance(message, protocol.CueCommand)
    ack = await context(request).commands.execute(message, record)
    return JSONResponse(ack.message())


async def cue_log_csv(request: Request) -> Response:
    city_id, script = city_script(request)
    body = cue_log.cue_log_csv(await context(request).store.cue_log(city_id), script)
    return download(body, "text/csv", f"{city_id}-cues.csv")


async def cue_log_vtt(request: Request) -> Response:
    city_id, script = city_script(request)
    wanted = request.query_params.get("lang")
    languages = wanted.split(",") if wanted else list(script.languages)
    try:
        body = cue_log.cue_log_vtt(await context(request).store.cue_log(city_id), script, languages)
    except ValueError as exc:
        raise ApiError("invalid", f"lang: {exc}", field="lang") from None
    return download(body, "text/vtt", f"{city_id}-cues.vtt")


async def api_drift(request: Request) -> Response:
    ctx = context(request)
    reference = request.query_params.get("reference", ctx.config.cities[0].id)
    if ctx.config.city(reference) is None:
        raise ApiError("invalid", f"reference: no city {reference!r}", field="reference")
    board = (await ctx.store.snapshot()).board
    if reference not in board.scripts:
        raise ApiError("invalid", f"reference: {reference} runs no surtitles", field="reference")
    ref_log = await ctx.store.cue_log(reference)
    ref_index = board.public_view(reference)["index"]
    result = {}
    for city_id in board.scripts:
        index = board.public_view(city_id)["index"]
        found = drift.drift(await ctx.store.cue_log(city_id), index, ref_log, ref_index)
        if found is None:
            continue  # one of the two has not begun: no drift to tell
        result[city_id] = {**found.as_json(), "count": board.state(city_id).count}
    return JSONResponse({"reference": reference, "cities": result})
