"""Forwarded headers: believed from a trusted proxy only, and only when well formed."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.proxy import ForwardedHeaders, TrustedPeers, forwarded_host
from tests.support.harness import run_async

FORWARDED = [
    (b"host", b"127.0.0.1:8000"),
    (b"x-forwarded-for", b"203.0.113.9"),
    (b"x-forwarded-proto", b"https"),
    (b"x-forwarded-host", b"reading.example.org"),
]


def seen_scope(peer: str, trusted: tuple[str, ...], kind: str = "http") -> dict[str, Any]:
    """The scope the app behind the middleware sees for a request from ``peer``."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 40000),
        "headers": list(FORWARDED),
    }
    # On a thread of its own: the browser tests keep an event loop running in this one.
    run_async(ForwardedHeaders(app, trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen


def test_a_trusted_proxy_gives_the_client_scheme_and_host() -> None:
    scope = seen_scope("10.0.3.4", ("10.0.0.0/8",))
    assert scope["client"][0] == "203.0.113.9"
    assert scope["scheme"] == "https"
    assert dict(scope["headers"])[b"host"] == b"reading.example.org"
    assert seen_scope("10.0.3.4", ("10.0.0.0/8",), "websocket")["scheme"] == "wss"


def test_the_same_headers_from_another_peer_change_nothing() -> None:
    scope = seen_scope("192.0.2.50", ("10.0.0.0/8",))
    assert scope["client"] == ("192.0.2.50", 40000)
    assert scope["scheme"] == "http"
    assert dict(scope["headers"])[b"host"] == b"127.0.0.1:8000"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"reading.example.org", b"reading.example.org"),
        (b"reading.example.org:8443, inner.local", b"reading.example.org:8443"),
        (b"[2001:db8::1]:443", b"[2001:db8::1]:443"),
        (b"evil.example/path", None),
        (b"user@evil.example", None),
        (b"", None),
    ],
)
def test_only_a_well_formed_host_is_taken(value: bytes, expected: bytes | None) -> None:
    assert forwarded_host([(b"x-forwarded-host", value)]) == expected


def test_trusted_peers() -> None:
    peers = TrustedPeers(["127.0.0.1", "10.1.0.0/16", "2001:db8::/32"])
    assert "127.0.0.1" in peers and "10.1.200.3" in peers and "2001:db8::5" in peers
    assert "10.2.0.1" not in peers and "testclient" not in peers and None not in peers
    assert "198.51.100.1" in TrustedPeers(["*"])
