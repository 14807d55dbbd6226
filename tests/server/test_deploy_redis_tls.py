"""``rediss://`` as platforms give it: a TLS Redis with a self-signed certificate. A real
``redis-server`` with TLS on a free port, with a certificate this test makes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Tokens
from tests.support.harness import (
    ServerProcess,
    free_port,
    self_signed_certificate,
    skip_or_fail,
    which,
)

Start = Callable[..., ServerProcess]


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(its rediss:// URL, the certificate a client must trust)."""
    binary = which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
        raise AssertionError("unreachable")
    work = tmp_path / "redis-tls"
    work.mkdir()
    cert, key = self_signed_certificate(work, "redis.localhost")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(work),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["redis-cli", "--tls", "--cacert", str(cert), "-p", str(port), "ping"],
            capture_output=True, text=True, check=False,
        ).stdout.strip() != "PONG":  # fmt: skip
            assert proc.poll() is None and time.monotonic() < deadline, "TLS redis did not start"
            time.sleep(0.1)
        yield f"rediss://127.0.0.1:{port}/0", cert
    finally:
        proc.kill()
        proc.wait()


def go_live(server: ServerProcess, token: str) -> None:
    status, reply = server.post_json(
        "/api/cities/paris/status", {"id": "tls-1", "state": "preparing"}, token
    )
    assert (status, reply["type"]) == (200, "ack"), reply
    cities = server.get_json("/api/state")["cities"]
    assert next(c for c in cities if c["id"] == "paris")["state"] == "preparing"


def test_a_ca_file_trusts_a_self_signed_redis(
    server_factory: Start, tls_redis: tuple[str, Path], tokens: Tokens
) -> None:
    url, cert = tls_redis
    server = server_factory(
        "--redis-url", url, "--redis-prefix", "tls:", "--redis-tls-ca", str(cert)
    )
    go_live(server, tokens.paris)
    assert server.get("/readyz")[0] == 200
    assert "not checked" not in server.log()


def test_no_verify_connects_and_says_so_in_the_log(
    server_factory: Start, tls_redis: tuple[str, Path], tokens: Tokens
) -> None:
    url, _ = tls_redis
    server = server_factory(
        "--redis-url", url, "--redis-prefix", "tls:", env={"COORDINATOR_REDIS_TLS_NO_VERIFY": "1"}
    )
    go_live(server, tokens.paris)
    assert "the Redis server's certificate is not checked" in server.log()


def test_an_untrusted_certificate_stops_the_start_with_a_message(
    config_path: Path, tls_redis: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = tls_redis
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "serve", "--config", str(config_path),
         "--port", "0", "--redis-url", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot reach Redis at rediss://127.0.0.1" in result.stderr
    assert "certificate verify failed" in result.stderr
