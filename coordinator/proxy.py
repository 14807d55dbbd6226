"""Behind a reverse proxy: the client's address, scheme and host as the proxy received them.

A proxy (nginx, Caddy, a platform's router) connects from its own address and may pass the
Host on or not. For a peer in ``--forwarded-allow-ips`` only, uvicorn's own
``ProxyHeadersMiddleware`` takes the client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto``, and :class:`ForwardedHeaders` adds what it lacks: the host from
``X-Forwarded-Host``. Everything after reads the ASGI scope, so the per-address caps, the
logs, the websocket Origin check and every absolute link (QR code, calendar feed) follow.
From any other peer the headers change nothing: anyone can send them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

# A host name or address with an optional port, nothing that could bend a link (no "/", "@").
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class TrustedPeers:
    """The peers whose forwarded headers are believed: addresses, networks, or ``*``."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.everyone = "*" in entries
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]

    def __contains__(self, host: object) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(str(host))
        except ValueError:
            return False  # a unix socket, a test client name: not an address we listed
        return any(address in network for network in self.networks)


def forwarded_host(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The first ``X-Forwarded-Host`` value (the host the client asked for), if well formed."""
    for name, value in headers:
        if name == b"x-forwarded-host":
            first = value.split(b",", 1)[0].strip()
            if _HOST.fullmatch(first.decode("latin-1")):
                return first
            return None
    return None


class ForwardedHeaders:
    """ASGI middleware: the forwarded client, scheme and host of a trusted proxy's requests.

    Install it outermost, and run uvicorn with ``proxy_headers=False``: it needs the real
    peer's address, which uvicorn's middleware replaces.
    """

    def __init__(self, app: ASGIApp, trusted: Sequence[str] = ("127.0.0.1",)) -> None:
        self.trusted = TrustedPeers(trusted)
        inner: Any = ProxyHeadersMiddleware(app, trusted_hosts=list(trusted))  # type: ignore[arg-type]
        self.inner: ASGIApp = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and client[0] in self.trusted:
            host = forwarded_host(scope["headers"])
            if host is not None:
                headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
                scope = {**scope, "headers": [(b"host", host), *headers]}
        await self.inner(scope, receive, send)
