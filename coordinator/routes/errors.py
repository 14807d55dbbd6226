"""Errors of the HTTP API: raised anywhere, rendered here, in one JSON shape.

Every error answer is the websocket protocol's ``error`` message (docs/protocol.md):
``{"type": "error", "id": ..., "code": ..., "message": ...}``, with ``field`` when one field
is at fault and ``problems`` when a file has several. The HTTP status follows the code, so a
script can branch on either. A store outage is ``unavailable`` (503) on every route.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator.protocol import ProtocolError
from coordinator.service import CommandError, error_message
from coordinator.state.base import StoreUnavailable

log = logging.getLogger("coordinator")

STATUS_OF_CODE = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "timeout": 408,
    "too_large": 413,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}
CODE_OF_STATUS = {status: code for code, status in STATUS_OF_CODE.items()}


class ApiError(Exception):
    """An HTTP request refused: the protocol error ``code`` and a message naming the cause."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        command_id: str | None = None,
        field: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.command_id = command_id
        self.field = field
        self.problems = list(problems)


def error_response(
    code: str, message: str, command_id: str | None = None, **extra: Any
) -> JSONResponse:
    body = error_message(command_id, code, message)
    body.update({k: v for k, v in extra.items() if v})
    return JSONResponse(body, status_code=STATUS_OF_CODE.get(code, 400))


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(
        exc.code, exc.message, exc.command_id, field=exc.field, problems=exc.problems
    )
    if exc.code in ("too_large", "timeout"):
        # The rest of the body is still on its way (or never comes): end the connection after
        # the answer instead of reading it as the next request.
        response.headers["Connection"] = "close"
    return response


async def command_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CommandError | ProtocolError)
    return error_response(exc.code, exc.message, exc.id)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    return error_response("unavailable", f"the store is unreachable; try again: {exc}")


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the same shape."""
    assert isinstance(exc, HTTPException)
    code = CODE_OF_STATUS.get(exc.status_code, "invalid")
    message = {
        404: f"no such page or endpoint: {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    response = error_response(code, message)
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: the client gets the shape and no details; uvicorn logs the traceback."""
    return error_response("internal", "internal error; the server log has the details")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error,
    CommandError: command_error,
    ProtocolError: command_error,
    StoreUnavailable: store_unavailable,
    HTTPException: http_exception,
    Exception: internal_error,
}
