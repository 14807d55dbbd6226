"""Shared fixtures: a real server on a free port, a websocket client factory, a Chromium page."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coordinator.auth import TokenRecord, add_token
from coordinator.rules import Role
from tests.support.harness import (
    CHROMIUM,
    ServerProcess,
    WsClient,
    copy_shipped_config,
    skip_or_fail,
)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A private copy of the shipped config (tests may edit it)."""
    return copy_shipped_config(tmp_path)


@pytest.fixture
def secrets_path(tmp_path: Path) -> Path:
    """The token hashes file the test servers read."""
    return tmp_path / "secrets.yaml"


@dataclass(frozen=True)
class Tokens:
    """One token per role, made with the real token code, for servers of this test."""

    paris: str
    berlin: str
    paris_operator: str
    berlin_operator: str
    admin: str
    records: dict[str, TokenRecord]


@pytest.fixture
def tokens(secrets_path: Path) -> Tokens:
    made: dict[str, tuple[str, TokenRecord]] = {
        "paris": add_token(secrets_path, Role.COORDINATOR, "paris", "Paris coordinator"),
        "berlin": add_token(secrets_path, Role.COORDINATOR, "berlin"),
        "paris_operator": add_token(secrets_path, Role.OPERATOR, "paris"),
        "berlin_operator": add_token(secrets_path, Role.OPERATOR, "berlin"),
        "admin": add_token(secrets_path, Role.ADMIN, None),
    }
    return Tokens(
        paris=made["paris"][0],
        berlin=made["berlin"][0],
        paris_operator=made["paris_operator"][0],
        berlin_operator=made["berlin_operator"][0],
        admin=made["admin"][0],
        records={name: record for name, (_, record) in made.items()},
    )


@pytest.fixture
def server_factory(
    tmp_path: Path, config_path: Path, secrets_path: Path, tokens: Tokens
) -> Iterator[Callable[..., ServerProcess]]:
    """Start real servers; every one is killed at the end of the test. The test's tokens are
    made first: a server imports the secrets file once, when it starts."""
    started: list[ServerProcess] = []

    def start(
        *extra_args: str,
        config: Path | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        server = ServerProcess(
            config or config_path,
            data_dir or tmp_path / "data",
            extra_args=["--secrets", str(secrets_path), *extra_args],
            env=env,
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """One real server on the shipped config, with the embedded store."""
    return server_factory()


REDIS_URL = os.environ.get("COORDINATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"no Redis at {REDIS_URL} ({exc})")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_pair(
    server_factory: Callable[..., ServerProcess], redis_prefix: str, tmp_path: Path
) -> tuple[ServerProcess, ServerProcess]:
    """Two real servers of one deployment: one Redis (this test's own prefix), each process
    with a data directory of its own."""
    options = ("--redis-url", REDIS_URL, "--redis-prefix", redis_prefix)
    return (
        server_factory(*options, data_dir=tmp_path / "one"),
        server_factory(*options, data_dir=tmp_path / "two"),
    )


@pytest.fixture(params=["sqlite", "redis"])
def backend_server(
    request: pytest.FixtureRequest, server_factory: Callable[..., ServerProcess]
) -> ServerProcess:
    """A real server on each store backend: the same behaviour tests run against both."""
    if request.param == "sqlite":
        return server_factory()
    prefix = request.getfixturevalue("redis_prefix")
    return server_factory("--redis-url", REDIS_URL, "--redis-prefix", prefix)


@pytest.fixture
def ws_client() -> Iterator[Callable[..., WsClient]]:
    """Open websocket clients; all are closed at the end of the test."""
    clients: list[WsClient] = []

    def open_client(url: str, **kwargs: Any) -> WsClient:
        client = WsClient(url, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()  # closing an already closed connection is a no-op


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (Playwright's own download is not used)."""
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


def _watched_page(context: Any, errors: list[str], foreign: list[str]) -> Any:
    """A new page of ``context`` that records console errors and requests leaving localhost;
    ``page.console_errors`` is the live list, for tests that expect some errors."""
    new = context.new_page()
    new.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    new.on("pageerror", lambda e: errors.append(str(e)))

    def check_request(request: Any) -> None:
        url: str = request.url
        if not url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            foreign.append(url)

    new.on("request", check_request)
    new.console_errors = errors
    return new


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test on any console error or request leaving localhost."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    foreign: list[str] = []
    yield _watched_page(context, errors, foreign)
    context.close()
    assert not foreign, f"requests left localhost: {foreign}"
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """More pages, each in a context of its own (its own storage), checked like ``page``."""
    opened: list[tuple[Any, list[str], list[str]]] = []

    def open_one(width: int = 1280, height: int = 720, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        errors: list[str] = []
        foreign: list[str] = []
        opened.append((context, errors, foreign))
        return _watched_page(context, errors, foreign)

    yield open_one
    for context, errors, foreign in opened:
        context.close()
        assert not foreign, f"requests left localhost: {foreign}"
        assert not errors, f"console errors: {errors}"
