"""Structured logging: one ``key=value`` line per request and per websocket connection.

Only the path is logged, never the query string or headers, so a token pasted into a URL by
mistake does not end up in a log file.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("coordinator")


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Send the project's and uvicorn's log lines to stderr, one line each, with query strings
    and client-provoked tracebacks taken out of uvicorn's lines. ``log_format`` "json" writes
    each line as one JSON object (:class:`JsonLines`), for log collectors."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactUvicorn())
    for name in ("coordinator", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Our own access log (AccessLog) replaces uvicorn's, which would log query strings.
    logging.getLogger("uvicorn.access").disabled = True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (UTC, ISO 8601), ``level``,
    ``logger``, ``message``, and ``exception`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactUvicorn(logging.Filter):
    """uvicorn logs each websocket as ``"WebSocket /ws?QUERY" [accepted]``, query included,
    and a client sending bad UTF-8 makes it log a full traceback. Neither belongs in a log a
    hostile client can fill: keep the path without its query, and the message without the
    traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn"):
            return True
        if isinstance(record.args, tuple) and '"WebSocket %s"' in str(record.msg):
            record.args = tuple(
                str(arg).split("?", 1)[0] if n == 1 else arg for n, arg in enumerate(record.args)
            )
        if record.exc_info and record.levelno >= logging.ERROR and _client_fault(record):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _client_fault(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return message.startswith(("Invalid UTF-8", "Invalid HTTP request", "Unsupported upgrade"))


def kv(**fields: Any) -> str:
    """Format fields as ``key=value`` pairs; values with spaces are quoted."""
    parts = []
    for key, value in fields.items():
        text = str(value)
        if not text or any(ch in text for ch in ' "='):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class AccessLog:
    """ASGI middleware logging each HTTP request when it ends (websockets log themselves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            # The inner app's awaitable itself: no frame of ours held for a websocket's life.
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            client = scope.get("client")
            log.info(
                kv(
                    event="http",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    client=client[0] if client else "-",
                )
            )
