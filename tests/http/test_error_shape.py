"""One JSON error shape on every route of the HTTP API, and 503 for a store outage.

The app runs in process (Starlette's TestClient) on the real stores: SQLite in a temporary
folder, and a private redis-server that the outage test kills.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from coordinator.app import create_app
from coordinator.auth import add_token
from coordinator.routes import route_table
from coordinator.rules import Role
from coordinator.settings import Settings
from tests.support.harness import RedisServer

REQUIRED = {"type", "id", "code", "message"}
OPTIONAL = {"field", "problems"}
ADMIN = "admin"
OPERATOR = "operator"

# (method, path template) -> a request that each route must refuse: (method, url, who, body).
PROBES: dict[tuple[str, str], tuple[str, str, str | None, Any]] = {
    ("GET", "/"): ("GET", "/no-such-page", None, None),
    ("GET", "/coordinator"): ("DELETE", "/coordinator", None, None),
    ("GET", "/admin"): ("DELETE", "/admin", None, None),
    ("GET", "/operator/{city}"): ("GET", "/operator/atlantis", None, None),
    ("GET", "/display/{city}"): ("GET", "/display/atlantis", None, None),
    ("GET", "/follow/{city}"): ("GET", "/follow/atlantis", None, None),
    ("GET", "/cities/{city}/follow-qr.svg"): ("GET", "/cities/atlantis/follow-qr.svg", None, None),
    ("GET", "/healthz"): ("POST", "/healthz", None, None),
    ("GET", "/readyz"): ("POST", "/readyz", None, None),
    ("GET", "/api/cities"): ("GET", "/api/cities?tz=Mars/Olympus", None, None),
    ("GET", "/calendar.ics"): ("PUT", "/calendar.ics", None, None),
    ("GET", "/cities/{city}/calendar.ics"): ("GET", "/cities/atlantis/calendar.ics", None, None),
    ("GET", "/api/state"): ("POST", "/api/state", None, None),
    ("POST", "/api/cities/{city}/status"): ("POST", "/api/cities/paris/status", None, {}),
    ("PATCH", "/api/cities/{city}"): ("PATCH", "/api/cities/paris", ADMIN, {"venue": 1}),
    ("GET", "/api/log"): ("GET", "/api/log", OPERATOR, None),
    ("GET", "/api/log.csv"): ("GET", "/api/log.csv", None, None),
    ("GET", "/api/cues/{city}/log.csv"): ("GET", "/api/cues/atlantis/log.csv", None, None),
    ("GET", "/api/cues/{city}/log.vtt"): ("GET", "/api/cues/paris/log.vtt?lang=xx", None, None),
    ("GET", "/api/cues/{city}/script"): ("GET", "/api/cues/paris/script", None, None),
    ("PUT", "/api/cues/{city}/script"): ("PUT", "/api/cues/paris/script", ADMIN, "n,en\n"),
    ("POST", "/api/cues/{city}/script/check"): (
        "POST",
        "/api/cues/paris/script/check",
        OPERATOR,
        "n,en\n1,Hi\n",
    ),
    ("POST", "/api/cues/{city}/{action}"): ("POST", "/api/cues/paris/jump", OPERATOR, {}),
    ("GET", "/api/drift"): ("GET", "/api/drift?reference=atlantis", None, None),
    ("GET", "/api/connections"): ("GET", "/api/connections", OPERATOR, None),
    ("GET", "/api/report"): ("GET", "/api/report", None, None),
    ("GET", "/api/report.csv"): ("GET", "/api/report.csv", OPERATOR, None),
    ("GET", "/report"): ("POST", "/report", None, None),
    ("GET", "/api/tokens"): ("GET", "/api/tokens", OPERATOR, None),
    ("POST", "/api/tokens"): ("POST", "/api/tokens", ADMIN, {"role": "operator", "city": "x"}),
    ("DELETE", "/api/tokens/{token_id}"): ("DELETE", "/api/tokens/t-none", ADMIN, None),
    ("GET", "/static"): ("GET", "/static/no-such-file.js", None, None),
}


def route_keys() -> set[tuple[str, str]]:
    keys = set()
    for route in route_table():
        if isinstance(route, Route):
            methods = (route.methods or {"GET"}) - {"HEAD"}
            keys |= {(method, route.path) for method in methods}
        elif isinstance(route, Mount):
            keys.add(("GET", route.path))
        else:
            assert isinstance(route, WebSocketRoute)  # the websocket has its own errors
    return keys


def settings_for(tmp_path: Path, config_path: Path, **changes: Any) -> Settings:
    return Settings(
        config_path=config_path,
        data_dir=tmp_path / "data",
        secrets_path=tmp_path / "secrets.yaml",
        **changes,
    )


def tokens_for(settings: Settings) -> dict[str, str]:
    assert settings.secrets_path is not None
    return {
        ADMIN: add_token(settings.secrets_path, Role.ADMIN, None)[0],
        OPERATOR: add_token(settings.secrets_path, Role.OPERATOR, "paris")[0],
    }


def send(
    client: TestClient, probe: tuple[str, str, str | None, Any], tokens: dict[str, str]
) -> Any:
    method, url, who, body = probe
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    if isinstance(body, str):
        headers["Content-Type"] = "text/csv"
        return client.request(method, url, headers=headers, content=body.encode())
    return client.request(method, url, headers=headers, json=body)


def assert_error_shape(response: Any, where: str) -> dict[str, Any]:
    assert response.status_code >= 400, f"{where}: {response.status_code} is not an error"
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    assert REQUIRED <= set(body) <= REQUIRED | OPTIONAL, f"{where}: {sorted(body)}"
    assert body["type"] == "error" and body["code"] and body["message"], where
    return dict(body)


@pytest.fixture
def client(tmp_path: Path, config_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = settings_for(tmp_path, config_path)
    tokens = tokens_for(settings)
    with TestClient(create_app(settings)) as client:
        yield client, tokens


def test_every_route_has_a_probe() -> None:
    assert route_keys() == set(PROBES)


def test_every_route_refuses_in_one_shape(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, tokens = client
    for key, probe in PROBES.items():
        assert_error_shape(send(test_client, probe, tokens), f"{key} -> {probe[:2]}")


def test_the_status_follows_the_code(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, tokens = client
    expected = {
        ("GET", "/operator/atlantis"): (404, "not_found"),
        ("POST", "/api/cities/paris/status"): (401, "unauthorized"),
        ("GET", "/api/log"): (403, "forbidden"),
        ("GET", "/api/cities?tz=Mars/Olympus"): (400, "invalid"),
        ("DELETE", "/coordinator"): (405, "method_not_allowed"),
        ("GET", "/api/tokens"): (403, "forbidden"),
        ("POST", "/api/tokens"): (400, "invalid"),
        ("DELETE", "/api/tokens/t-none"): (404, "not_found"),
    }
    for key, probe in PROBES.items():
        response = send(test_client, probe, tokens)
        if probe[:2] in expected:
            body = assert_error_shape(response, str(key))
            assert (response.status_code, body["code"]) == expected[probe[:2]], key
    body = send(test_client, PROBES[("GET", "/api/cities")], tokens).json()
    assert body["field"] == "tz"
    assert send(test_client, PROBES[("POST", "/api/tokens")], tokens).json()["field"] == "city"


def test_an_upload_lists_every_problem(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, tokens = client
    probe = ("PUT", "/api/cues/paris/script", ADMIN, "n,en,fr\n1,,\nx,Hi,Salut\n")
    body = assert_error_shape(send(test_client, probe, tokens), "upload")
    assert len(body["problems"]) >= 2 and body["message"] == body["problems"][0]


@pytest.mark.redis
def test_a_store_outage_is_503_in_the_shape_everywhere(tmp_path: Path, config_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        settings = settings_for(tmp_path, config_path, redis_url=redis.url, redis_prefix="shape:")
        tokens = tokens_for(settings)
        with TestClient(create_app(settings)) as test_client:
            redis.kill()
            answers = {key: outage_answer(test_client, key, tokens) for key in valid_requests()}
    finally:
        redis.kill()
    assert not [k for k, status in answers.items() if status == 500], answers
    admin_reads = ("/api/log", "/api/connections", "/api/report")
    must_fail = {
        k for k in answers if k[0] != "GET" or k[1].startswith(admin_reads) or "cues" in k[1]
    }
    assert all(answers[k] == 503 for k in must_fail), answers


def valid_requests() -> dict[tuple[str, str], tuple[str, str, str | None, Any]]:
    """A request each store-backed route would accept, with the store up."""
    return {
        ("GET", "/api/state"): ("GET", "/api/state", None, None),
        ("GET", "/calendar.ics"): ("GET", "/calendar.ics", None, None),
        ("GET", "/api/log"): ("GET", "/api/log", ADMIN, None),
        ("GET", "/api/log.csv"): ("GET", "/api/log.csv", ADMIN, None),
        ("GET", "/api/cues/paris/log.csv"): ("GET", "/api/cues/paris/log.csv", None, None),
        ("GET", "/api/cues/paris/log.vtt"): ("GET", "/api/cues/paris/log.vtt", None, None),
        ("GET", "/api/drift"): ("GET", "/api/drift", None, None),
        ("GET", "/api/connections"): ("GET", "/api/connections", ADMIN, None),
        ("GET", "/api/report"): ("GET", "/api/report", ADMIN, None),
        ("GET", "/api/report.csv"): ("GET", "/api/report.csv", ADMIN, None),
        ("POST", "/api/cities/paris/status"): (
            "POST", "/api/cities/paris/status", ADMIN, {"id": "s1", "state": "live"},
        ),
        ("POST", "/api/cues/paris/next"): ("POST", "/api/cues/paris/next", OPERATOR, {}),
        ("PUT", "/api/cues/paris/script"): (
            "PUT", "/api/cues/paris/script", ADMIN, "n,en,fr\n1,Hello,Bonjour\n",
        ),
        ("GET", "/api/tokens"): ("GET", "/api/tokens", ADMIN, None),
        ("POST", "/api/tokens"): ("POST", "/api/tokens", ADMIN, {"role": "admin"}),
        ("DELETE", "/api/tokens/t-0"): ("DELETE", "/api/tokens/t-0", ADMIN, None),
    }  # fmt: skip


def outage_answer(client: TestClient, key: tuple[str, str], tokens: dict[str, str]) -> int:
    response = send(client, valid_requests()[key], tokens)
    if response.status_code >= 400:
        body = assert_error_shape(response, str(key))
        assert response.status_code != 503 or body["code"] == "unavailable", key
    return int(response.status_code)
