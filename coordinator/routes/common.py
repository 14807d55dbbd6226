"""What several endpoints need: the bearer token, the city in the path, JSON bodies, and
file and cached answers. Each raises :class:`~coordinator.routes.errors.ApiError`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from coordinator import ical_feed, protocol
from coordinator.auth import TokenRecord
from coordinator.caching import CachedBody
from coordinator.context import context
from coordinator.protocol import ProtocolError
from coordinator.routes.errors import ApiError
from coordinator.rules import Role


async def bearer(request: Request) -> TokenRecord | None:
    """The record of the request's ``Authorization: Bearer`` token, if it is known here or,
    made a moment ago on another process, in the store."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await context(request).commands.authenticate_fresh(token.strip())


async def require_token(request: Request) -> TokenRecord:
    record = await bearer(request)
    if record is None:
        raise ApiError("unauthorized", "send Authorization: Bearer TOKEN")
    return record


def path_city(request: Request) -> str:
    """The ``{city}`` of the path, which must be one of the event's cities."""
    city_id: str = request.path_params["city"]
    if context(request).config.city(city_id) is None:
        raise ApiError("not_found", f"no city {city_id!r} in this event")
    return city_id


async def read_body(request: Request, max_bytes: int | None = None) -> bytes:
    """The request body, read as it arrives and refused (``too_large``, 413) as soon as it
    passes ``max_bytes`` (default: the ``max_body_bytes`` limit), before it is all in memory:
    a 200 MB body sent with a valid token used to be read whole first. A body still not
    whole after the ``body_timeout_s`` limit is refused (``timeout``, 408): one that trickled
    in, or never ended, held its connection and handler for as long as the client liked."""
    limits = context(request).settings.limits
    if max_bytes is None:
        max_bytes = limits.max_body_bytes
    too_large = ApiError("too_large", f"the request body is over {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            "timeout",
            f"the request body did not arrive within {limits.body_timeout_s:g} s "
            "(the body_timeout_s limit)",
        ) from None
    return b"".join(chunks)


def json_object(body: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """A request body that must be one JSON object (``{}`` for an empty body when allowed)."""
    if empty_ok and not body.strip():
        return {}
    raw = protocol.decode_json(body)
    if not isinstance(raw, dict):
        raise ProtocolError("the body must be a JSON object")
    return raw


def download(body: str, media_type: str, filename: str) -> Response:
    """A UTF-8 text file the browser saves under ``filename``."""
    return PlainTextResponse(
        body,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def conditional(
    request: Request, cached: CachedBody, media_type: str, *, filename: str | None = None
) -> Response:
    """The cached body, or 304 when the client's copy is current (If-None-Match first); with
    ``filename``, a file the browser saves under that name."""
    headers = {"ETag": cached.etag, "Cache-Control": "no-cache"}
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
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


async def require_admin(request: Request, what: str) -> TokenRecord:
    """The request's admin token: ``unauthorized`` (401) without a known token, ``forbidden``
    (403) with another role's, the message naming ``what`` is for admins."""
    record = await require_token(request)
    if record.role is not Role.ADMIN:
        raise ApiError("forbidden", f"{what} is for admins")
    return record
