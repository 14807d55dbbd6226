"""Tokens in the store: the HTTP API (admins), the CLI beside a running server, the secrets
file imported once, and a revocation reaching open connections on every process.

Real servers, real websocket clients, the real Redis; no mocks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.harness import RedisServer, ServerProcess, WsClient, http_request
from tests.support.messages import cue

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]
REVOKED = {
    "type": "error",
    "id": None,
    "code": "unauthorized",
    "message": "this token has been revoked",
}


def api(
    server: ServerProcess, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """One request to the token API; the body decoded from JSON when there is one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    status, answer_headers, raw = http_request(method, server.url + path, headers, data)
    answer_headers = {k.lower(): v for k, v in answer_headers.items()}
    return status, answer_headers, json.loads(raw) if raw else None


def create(server: ServerProcess, admin: str, **fields: Any) -> dict[str, Any]:
    status, headers, body = api(server, "POST", "/api/tokens", admin, fields)
    assert status == 201, body
    assert headers["cache-control"] == "no-store"
    return dict(body)


def is_cue(m: dict[str, Any]) -> bool:
    return bool(m["type"] == "event" and m["kind"] == "cue" and m["city"] == "paris")


def is_presence(m: dict[str, Any]) -> bool:
    return bool(m["type"] == "event" and m["kind"] == "presence" and m["city"] == "paris")


def signed_in(ws_client: Open, server: ServerProcess, token: str, role: str) -> WsClient:
    client = ws_client(server.ws_url)
    assert client.hello(token)["role"] == role
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def go(server: ServerProcess, token: str, cmd_id: str) -> None:
    status, _, body = api(server, "POST", "/api/cues/paris/next", token, {"id": cmd_id})
    assert status == 200, body


def assert_now_a_viewer(client: WsClient, server: ServerProcess, admin: str) -> None:
    """After the revocation error: the public snapshot, then cue events without the
    operator's preview and notes, and no command taken."""
    assert client.recv_until(lambda m: m["type"] == "error", timeout_s=3) == REVOKED
    snap = client.recv_until(lambda m: m["type"] == "snapshot", timeout_s=3)
    assert "next" not in snap["cues"]["paris"]
    go(server, admin, "after")
    event = client.recv_until(is_cue)
    assert "next" not in event and "notes" not in event and "state" not in event
    client.send(cue("c-after", "paris", "next"))
    assert client.recv_until(lambda m: m["type"] == "error")["code"] == "unauthorized"


def test_a_token_made_over_http_works_at_once_and_its_revocation_takes_the_staff_view(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    made = create(server, tokens.admin, role="operator", city="paris", label="Surtitles, Paris")
    token = made["token"]
    assert {k: made[k] for k in ("role", "city", "label")} == {
        "role": "operator",
        "city": "paris",
        "label": "Surtitles, Paris",
    }
    assert made["invite_url"] == f"{server.url}/operator/paris#token={token}"
    assert "<svg" in made["invite_qr_svg"]
    operator = signed_in(ws_client, server, token, "operator")
    go(server, tokens.admin, "before")
    mine = operator.recv_until(is_cue)
    assert "next" in mine and "state" in mine  # the operator's view
    status, _, listed = api(server, "GET", "/api/tokens", tokens.admin)
    assert status == 200
    entry = next(t for t in listed["tokens"] if t["id"] == made["id"])
    assert set(entry) == {"id", "role", "city", "label", "created_utc", "last_used_utc"}
    assert entry["created_utc"].endswith("Z")
    assert token not in str(listed) and "sha256" not in str(listed)
    status, _, _ = api(server, "DELETE", f"/api/tokens/{made['id']}", tokens.admin)
    assert status == 204
    assert_now_a_viewer(operator, server, tokens.admin)
    status, _, body = api(server, "POST", "/api/cues/paris/next", token, {"id": "x"})
    assert status == 401, body
    status, _, listed = api(server, "GET", "/api/tokens", tokens.admin)
    assert made["id"] not in {t["id"] for t in listed["tokens"]}


def test_a_revoked_coordinator_releases_the_city_it_kept_online(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(server.ws_url)
    viewer.hello()
    made = create(server, tokens.admin, role="coordinator", city="paris")
    assert made["invite_url"] == f"{server.url}/coordinator#token={made['token']}"
    signed_in(ws_client, server, made["token"], "coordinator")
    assert viewer.recv_until(is_presence)["online"] is True
    assert api(server, "DELETE", f"/api/tokens/{made['id']}", tokens.admin)[0] == 204
    assert viewer.recv_until(is_presence, timeout_s=3)["online"] is False
    paris = next(c for c in server.get_json("/api/state")["cities"] if c["id"] == "paris")
    assert paris["online"] is False


def test_an_admin_token_and_its_invite_link(server: ServerProcess, tokens: Tokens) -> None:
    made = create(server, tokens.admin, role="admin")
    assert made["city"] is None and made["label"] == ""
    assert made["invite_url"] == f"{server.url}/admin#token={made['token']}"
    status, _, body = api(server, "GET", "/api/log", made["token"])
    assert status == 200, body


def test_the_token_api_is_for_admins_and_names_what_is_wrong(
    server: ServerProcess, tokens: Tokens
) -> None:
    assert api(server, "GET", "/api/tokens", None)[0] == 401
    assert api(server, "GET", "/api/tokens", "not-a-token")[0] == 401
    for token in (tokens.paris, tokens.paris_operator):
        assert api(server, "GET", "/api/tokens", token)[0] == 403
        assert api(server, "POST", "/api/tokens", token, {"role": "admin"})[0] == 403
        assert api(server, "DELETE", f"/api/tokens/{tokens.records['admin'].id}", token)[0] == 403
    bad = [
        ({"role": "public"}, "role"),
        ({"role": "operator"}, "city"),
        ({"role": "coordinator", "city": "atlantis"}, "city"),
        ({"role": "admin", "city": "paris"}, "city"),
        ({"role": "operator", "city": "paris", "label": 7}, "label"),
        ({"role": "operator", "city": "paris", "label": "x" * 201}, "label"),
    ]
    for body, field in bad:
        status, _, answer = api(server, "POST", "/api/tokens", tokens.admin, body)
        assert (status, answer["code"], answer.get("field")) == (400, "invalid", field), body
    status, _, answer = api(server, "DELETE", "/api/tokens/t-nothing", tokens.admin)
    assert (status, answer["code"]) == (404, "not_found")
    assert api(server, "GET", "/api/tokens", tokens.admin)[0] == 200  # the admin still works


def test_a_token_records_its_last_use(server: ServerProcess, tokens: Tokens) -> None:
    def last_used() -> str | None:
        listed = api(server, "GET", "/api/tokens", tokens.admin)[2]["tokens"]
        entry = next(t for t in listed if t["id"] == tokens.records["berlin"].id)
        return entry["last_used_utc"]  # type: ignore[no-any-return]

    assert last_used() is None
    code, _ = server.post_json(
        "/api/cities/berlin/status", {"id": "u1", "state": "preparing"}, tokens.berlin
    )
    assert code == 200
    deadline = time.monotonic() + 5
    while last_used() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (last_used() or "").endswith("Z")


def test_the_cli_adds_a_token_beside_a_running_server_which_takes_it(
    server: ServerProcess, ws_client: Open
) -> None:
    added = server.token_cli("add", "--role", "operator", "--city", "paris", "--label", "cli")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    signed_in(ws_client, server, token, "operator")
    listed = server.token_cli("list")
    assert listed.returncode == 0 and "cli" in listed.stdout and token not in listed.stdout


def test_the_secrets_file_is_imported_once_and_a_revoked_token_stays_revoked(
    server: ServerProcess, ws_client: Open, tokens: Tokens, secrets_path: Path
) -> None:
    listed = api(server, "GET", "/api/tokens", tokens.admin)[2]["tokens"]
    assert {t["id"] for t in listed} == {r.id for r in tokens.records.values()}
    assert next(t for t in listed if t["id"] == tokens.records["paris"].id)["label"] == (
        "Paris coordinator"
    )
    assert "the store is now the source of tokens" in server.log()
    revoked = tokens.records["paris"].id
    assert api(server, "DELETE", f"/api/tokens/{revoked}", tokens.admin)[0] == 204
    assert revoked in secrets_path.read_text(encoding="utf-8")  # the file is not rewritten
    server.restart()
    listed = api(server, "GET", "/api/tokens", tokens.admin)[2]["tokens"]
    assert revoked not in {t["id"] for t in listed}
    client = ws_client(server.ws_url)
    client.send({"type": "hello", "token": tokens.paris})
    assert client.recv()["code"] == "unauthorized"


@pytest.mark.redis
def test_over_redis_a_token_made_on_one_process_works_on_another_and_dies_on_both(
    redis_pair: tuple[ServerProcess, ServerProcess], ws_client: Open, tokens: Tokens
) -> None:
    one, two = redis_pair
    made = create(one, tokens.admin, role="operator", city="paris")
    operator = signed_in(ws_client, two, made["token"], "operator")  # at once
    go(one, tokens.admin, "before")
    assert "next" in operator.recv_until(is_cue)
    assert api(one, "DELETE", f"/api/tokens/{made['id']}", tokens.admin)[0] == 204
    assert_now_a_viewer(operator, two, tokens.admin)
    again = ws_client(two.ws_url)
    again.send({"type": "hello", "token": made["token"]})
    assert again.recv()["code"] == "unauthorized"
    listed = api(two, "GET", "/api/tokens", tokens.admin)[2]["tokens"]
    assert made["id"] not in {t["id"] for t in listed}


@pytest.mark.redis
def test_over_redis_a_token_made_on_one_process_works_over_http_on_another_at_once(
    redis_pair: tuple[ServerProcess, ServerProcess], tokens: Tokens
) -> None:
    """An organiser makes a token on one process; the next request, which the load balancer
    sends to another, must not be refused while that process's copy catches up (0.25 s)."""
    one, two = redis_pair
    for n in range(5):
        made = create(one, tokens.admin, role="admin", label=f"second admin {n}")
        status, _, body = api(two, "GET", "/api/connections", made["token"])
        assert status == 200, (n, body)


@pytest.mark.redis
def test_tokens_survive_redis_coming_back_empty(
    server_factory: Start, ws_client: Open, tokens: Tokens, tmp_path: Path
) -> None:
    """Redis restarted without persistence holds no tokens: the processes write back the set
    they knew (as they do the state), so no organiser is signed out or locked out."""
    volatile = RedisServer(tmp_path / "volatile", appendonly=False).start()
    try:
        one = server_factory("--redis-url", volatile.url, "--redis-prefix", "tk:")
        made = create(one, tokens.admin, role="operator", city="paris")
        epoch = one.get_json("/api/state")["epoch"]
        volatile.restart()
        deadline = time.monotonic() + 15
        while one.get_json("/api/state")["epoch"] == epoch and time.monotonic() < deadline:
            time.sleep(0.1)
        signed_in(ws_client, one, made["token"], "operator")
        signed_in(ws_client, one, tokens.paris, "coordinator")
        listed = api(one, "GET", "/api/tokens", tokens.admin)[2]["tokens"]
        assert made["id"] in {t["id"] for t in listed}
        assert "THE STORE LOST ITS TOKENS" in one.log()
    finally:
        volatile.kill()
