"""Structured logging: one ``key=value`` line per request and per websocket connection.

Only the path is logged, never the query string or headers, so a token pasted into a URL by
mistake does not end up in a log file.
"""

from __future__ import annotations

import json
import logging
import re
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


# What uvicorn (and websockets, through uvicorn's logger) write for every websocket that opens,
# besides our own ws_open line: two more lines a viewer, 20,000 for 10,000 phones joining.
_PER_CONNECTION = ('%s - "WebSocket %s" [accepted]', "connection open")


class RedactUvicorn(logging.Filter):
    """uvicorn logs each websocket as ``"WebSocket /ws?QUERY" [accepted]``, query included,
    and a client sending bad UTF-8 makes it log a full traceback. Neither belongs in a log a
    hostile client can fill: keep the path without its query (of a refusal: an accepted one
    is dropped with the other per-connection line, as ``ws_open`` says it), and the message
    without the traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.junk = Throttled(logging.getLogger("uvicorn.error"))

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn"):
            return True
        if record.msg in _PER_CONNECTION and record.levelno == logging.INFO:
            return False
        if isinstance(record.args, tuple) and '"WebSocket %s"' in str(record.msg):
            record.args = tuple(
                safe_path(str(arg).split("?", 1)[0]) if n == 1 else arg
                for n, arg in enumerate(record.args)
            )
        fault = _client_fault(record)
        if fault is None:
            return True
        if record.exc_info and record.levelno >= logging.ERROR:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        # A client can provoke these at will: one line every ten seconds, with the count.
        count = self.junk.due(fault)
        if count is None:
            return False
        record.msg, record.args = f"{record.getMessage()} ({count} since the last such line)", ()
        return True


def _client_fault(record: logging.LogRecord) -> str | None:
    message = record.getMessage()
    for start in ("Invalid UTF-8", "Invalid HTTP request", "Unsupported upgrade"):
        if message.startswith(start):
            return start
    return None


class Throttled:
    """One log line per kind of event at most every ``interval_s``, counting the rest: what a
    flood of refused connections or failed accepts costs the log is a line, not a line each."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def due(self, event: str) -> int | None:
        """Count one ``event``: how many since the last line when a line is due, else None."""
        self._counts[event] = self._counts.get(event, 0) + 1
        now = time.monotonic()
        if now - self._last.get(event, -self.interval_s) < self.interval_s:
            return None
        self._last[event] = now
        return self._counts.pop(event)

    def note(self, event: str, level: int = logging.WARNING, **fields: Any) -> None:
        """Count one ``event``; log it (with the count since the last line) when due."""
        count = self.due(event)
        if count is not None:
            self.logger.log(level, kv(event=event, count=count, **fields))


# Secrets look like this (a token is 43 of these characters): never written to a log.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{32,}")
# Control characters would let a client forge log lines (a CR LF in a path, once decoded).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def redact(text: str) -> str:
    """``text`` with anything that looks like a token replaced by ``[redacted]``."""
    return _TOKEN_LIKE.sub("[redacted]", text)


def safe_path(path: str) -> str:
    """A request path fit for the log: token-like segments redacted, at most 300 characters."""
    path = redact(path)
    return path if len(path) <= 300 else path[:300] + "..."


def kv(**fields: Any) -> str:
    """Format fields as ``key=value`` pairs. A value with a space, a quote, an ``=``, a
    backslash or a control character is quoted, those escaped (``\\r``, ``\\x1b``): one call
    is always exactly one line."""
    parts = []
    for key, value in fields.items():
        text = str(value)
        if not text or any(ch in text for ch in ' "=\\') or _CONTROL.search(text):
            text = text.replace("\\", "\\\\").replace('"', '\\"')
            text = '"' + _CONTROL.sub(_escape, text) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


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
                    path=safe_path(scope["path"]),
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    client=client[0] if client else "-",
                )
            )
