"""A city's surtitle script over HTTP: read it (its operator, an admin), check an upload and
replace it (an admin)."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import protocol, scripts
from coordinator.auth import TokenRecord
from coordinator.context import context
from coordinator.routes.common import path_city, read_body, require_admin, require_token
from coordinator.routes.cues import city_script
from coordinator.routes.errors import ApiError
from coordinator.state.base import ScriptUpload

MAX_SCRIPT_BYTES = 2 * 1024 * 1024
PREVIEW_CUES = 10  # the first lines a check shows, to see the columns were read right
SCRIPT_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


async def get_script(request: Request) -> Response:
    city_id, script = city_script(request)
    if not (await require_token(request)).actor().may_cue(city_id):
        raise ApiError("forbidden", f"only {city_id}'s operator or an admin")
    return JSONResponse(script.as_json())


async def check_script(request: Request) -> Response:
    """What ``PUT`` would make of the same request, and nothing changed: 200 with ``ok``,
    every ``problems`` line (FILE:LINE, as ``coordinator cues check`` gives them), the
    ``warnings``, and for a usable script its ``count``, ``languages``, ``version`` and the
    first cues (``cues``: ``index``, ``label``, ``text``). A request PUT would refuse before
    reading the script (no token, not an admin, no format) is refused the same way."""
    city_id, _ = await _admin(request)
    try:
        _, script = await _read(request, city_id)
    except ApiError as exc:
        if not exc.problems:
            raise
        return JSONResponse(
            {"ok": False, "problems": exc.problems, "warnings": [], "count": 0,
             "languages": [], "version": None, "cues": []}
        )  # fmt: skip
    preview = [
        {"index": cue.number, "label": cue.label, "text": dict(cue.text)}
        for cue in script.cues[:PREVIEW_CUES]
    ]
    return JSONResponse(
        {"ok": True, "problems": [], "warnings": list(script.warnings),
         "count": len(script.cues), "languages": list(script.languages),
         "version": script.version, "cues": preview}
    )  # fmt: skip


async def put_script(request: Request) -> Response:
    """An admin replaces a city's script; the channel keeps its position, and every screen
    of the city gets the new text in one cue event."""
    city_id, record = await _admin(request)
    upload, script = await _read(request, city_id)
    ctx = context(request)
    current = (await ctx.store.snapshot()).board.state(city_id)
    await ctx.store.save_script(city_id, upload)
    ctx.store.set_script(city_id, script)
    info = {"count": len(script.cues), "version": script.version,
            "languages": list(script.languages)}  # fmt: skip
    if current.follows is not None:
        # Its screens show the leader's script; the new one applies when it unfollows.
        return JSONResponse({"type": "ack", "id": None, "seq": None, **info})
    # Re-show the same position with the new text: one cue event, in seq order, for all.
    # A fresh id per upload: an id derived from the content would be taken for a retry when
    # the same script is uploaded again (a revert) or to another city.
    reload = protocol.CueCommand(
        id=f"script-{secrets.token_hex(8)}", city=city_id, action="refresh"
    )
    ack = await ctx.commands.execute(reload, record)
    return JSONResponse({**ack.message(), **info})


async def _admin(request: Request) -> tuple[str, TokenRecord]:
    city_id = path_city(request)
    return city_id, await require_admin(request, "uploading a script")


async def _read(request: Request, city_id: str) -> tuple[ScriptUpload, scripts.Script]:
    body = await read_body(request, MAX_SCRIPT_BYTES)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Parsing a 2 MB script takes a while: off the event loop, so others are served meanwhile.
    return await asyncio.to_thread(read_upload, city_id, media, dict(request.query_params), body)


def read_upload(
    city_id: str, media: str, query: Mapping[str, str], body: bytes
) -> tuple[ScriptUpload, scripts.Script]:
    """Read an upload: a CSV/TSV/YAML/xlsx body (its format from Content-Type or ``?format=``;
    ``?sheet=`` names an xlsx sheet), or JSON ``{"format": "srt"|"vtt", "files": {"en": "...",
    "fr": "..."}}``. Raises ApiError listing every problem with file and line."""
    try:
        if media == "application/json":
            kind, files = _json_upload(body)
        else:
            kind = query.get("format") or SCRIPT_CONTENT_TYPES.get(media, "")
            if not kind:
                raise ApiError(
                    "invalid",
                    "say the format: Content-Type text/csv, or ?format=csv|tsv|yaml|xlsx",
                )
            files = _body_files(kind, query.get("sheet", ""), body)
        script = scripts.parse_upload(kind, files, name=f"{city_id}-upload")
    except scripts.ScriptError as exc:
        raise ApiError("invalid", exc.problems[0], problems=exc.problems) from None
    except ValueError as exc:
        raise ApiError("invalid", str(exc)) from None
    return ScriptUpload(format=kind, files=files, version=script.version), script


def _json_upload(body: bytes) -> tuple[str, dict[str, str]]:
    data = protocol.decode_json_document(body)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ApiError(
            "invalid", 'a JSON upload is {"format": "srt", "files": {"en": ..., "fr": ...}}'
        )
    files = data["files"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ApiError("invalid", "files: each language maps to the text of its file")
    return str(data.get("format", "")), files


def _body_files(kind: str, sheet: str, body: bytes) -> dict[str, str]:
    """The stored text of a one-file upload: a workbook is kept as base64, keyed by the sheet
    to read ("" for the first); text must be UTF-8."""
    if kind == "xlsx":
        return {sheet: base64.b64encode(body).decode("ascii")}
    return {"": _utf8(body)}


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise scripts.ScriptError([f"upload: not UTF-8 text (byte {exc.start})"]) from None
