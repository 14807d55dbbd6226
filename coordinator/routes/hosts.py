"""The address the server's links point to (QR codes, calendar feeds): ``event.public_url``
when the config sets it, else the request's own Host, checked first.

The Host header is the client's to choose: drawn into every QR code and feed, a fresh one per
request defeated both caches and was reflected into the feed's links, and one of ~2,300 bytes
crashed the QR drawing (a 500). Without ``public_url`` the Host must be a plain host name (at
most 255 characters) and, when ``--allowed-host`` names any, one of those.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from coordinator.context import context
from coordinator.routes.errors import ApiError

MAX_HOST_CHARS = 255
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def link_base(request: Request) -> str:
    """``scheme://host`` for links to this server, without a trailing slash. Raises
    ApiError ``invalid`` (400) for a Host that cannot be used."""
    ctx = context(request)
    if ctx.config.event.public_url:
        return ctx.config.event.public_url.rstrip("/")
    host = request.headers.get("host", "")
    if len(host) > MAX_HOST_CHARS or not _HOST_RE.match(host):
        raise ApiError("invalid", "Host: not a host name this server can link to", field="host")
    allowed = ctx.settings.allowed_hosts
    if allowed and host.lower() not in allowed:
        raise ApiError(
            "invalid",
            f"Host: {host[:80]!r} is not a name of this server (--allowed-host)",
            field="host",
        )
    return f"{request.url.scheme}://{host}"
