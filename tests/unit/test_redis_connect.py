"""Reading --redis-url: one server or a Sentinel group, its TLS options, and never a
password in a message."""

from __future__ import annotations

import pytest

from coordinator.state.redis_connect import RedisTarget, parse_redis_url, safe_url


def test_a_direct_url_is_left_to_redis_py() -> None:
    assert parse_redis_url("redis://127.0.0.1:6379/0") == RedisTarget(
        url="redis://127.0.0.1:6379/0", tls=False
    )
    assert parse_redis_url("rediss://:pw@cache.example:6380/2").tls
    assert not parse_redis_url("unix:///run/redis.sock").uses_sentinel


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    target = parse_redis_url(
        "rediss+sentinel://app:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/show/3"
        "?sentinel_password=other"
    )
    assert target.uses_sentinel and target.tls
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (target.service, target.db) == ("show", 3)
    assert (target.username, target.password, target.sentinel_password) == (
        "app",
        "s@cret",
        "other",
    )
    plain = parse_redis_url("redis+sentinel://:pw@h1:26379/show")
    assert (plain.tls, plain.db, plain.username, plain.password) == (False, 0, None, "pw")
    assert plain.describe() == "the sentinels h1:26379 (service 'show')"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h:6379/0", "the scheme must be one of redis://, rediss://, unix://"),
        ("redis+sentinel://h1:26379", "name the Sentinel service after the hosts"),
        ("redis+sentinel://h1:26379/show/zero", "the database after the service must be a number"),
        ("redis+sentinel://h1:port/show", "sentinel 'h1:port' has no valid port"),
        ("redis+sentinel://h1:26379,/show", "a sentinel address is empty"),
        ("redis+sentinel://h1/show?password=x", "unknown option 'password'"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_redis_url(url)


def test_messages_never_show_a_password() -> None:
    assert safe_url("redis://:hunter2@h:6379/0") == "redis://***@h:6379/0"
    assert safe_url("redis+sentinel://u:p@ss@h1,h2/show?sentinel_password=x") == (
        "redis+sentinel://***@h1,h2/show"
    )
    assert safe_url("redis://h:6379/0") == "redis://h:6379/0"
    with pytest.raises(ValueError, match="no valid port") as info:
        parse_redis_url("redis+sentinel://:hunter2@h1:x/show")
    assert "hunter2" not in str(info.value)
