"""The one environment contract: variables in, the same settings out, and each documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coordinator.cli import build_parser, serve_settings
from coordinator.limits import Limits
from coordinator.settings import ENVIRONMENT, Settings, SettingsError

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def test_every_variable_round_trips_through_to_env() -> None:
    settings = Settings(
        config_path=Path("event/cities.yaml"),
        data_dir=Path("state"),
        secrets_path=Path("keys.yaml"),
        redis_url="rediss+sentinel://10.0.0.1:26379,10.0.0.2:26379/main/3",
        redis_prefix="t:",
        redis_tls_ca=Path("ca.pem"),
        redis_tls_no_verify=True,
        redis_min_replicas=2,
        demo=True,
        limits=Limits().with_overrides(["max_connections=7"]),
        allowed_origins=("https://a.example", "https://b.example"),
        allowed_hosts=("reading.example", "127.0.0.1:8000"),
        osc_port=9000,
        osc_host="127.0.0.2",
        host="::1",
        port=8123,
        workers=2,
        log_level="debug",
        log_format="json",
        forwarded_allow_ips=("10.0.0.0/8", "192.0.2.7"),
    )
    env = settings.to_env()
    assert set(env) == {var.name for var in ENVIRONMENT.values()}
    assert Settings.from_env(env) == settings


def test_defaults_need_no_variable() -> None:
    assert Settings().to_env() == {}
    assert Settings.from_env({}) == Settings()


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"\$PORT: 'eighty' is not a whole number"):
        Settings.from_env({"PORT": "eighty"})
    with pytest.raises(SettingsError, match=r"\$COORDINATOR_LIMITS: --limit 'nope=1'"):
        Settings.from_env({"COORDINATOR_LIMITS": "nope=1"})


def test_options_win_over_variables_and_lists_add_up() -> None:
    env = {"PORT": "9001", "COORDINATOR_ALLOWED_ORIGINS": "https://a.example", "HOST": "::"}
    args = build_parser().parse_args(
        ["serve", "--port", "9002", "--allowed-origin", "https://b.example"]
    )
    settings = serve_settings(args, env)
    assert settings.port == 9002
    assert settings.host == "::"
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


def test_problems_name_the_option() -> None:
    assert Settings().problems() == []
    assert Settings(workers=2).problems() == [
        "--workers above 1 needs --redis-url: processes share their state in Redis"
    ]
    assert "--port 70000: use 0-65535 (0: any free port)" in Settings(port=70000).problems()
    assert Settings(redis_min_replicas=-1).problems() == ["--redis-min-replicas -1: use 0 or more"]


def test_deploy_doc_names_every_variable() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", DEPLOY_DOC.read_text(encoding="utf-8")))
    missing = {var.name for var in ENVIRONMENT.values()} - documented
    assert not missing, f"docs/deploy.md does not name {sorted(missing)}"


def test_a_platforms_web_concurrency_without_redis_means_one_process() -> None:
    from_platform = Settings.from_env({"WEB_CONCURRENCY": "2"})
    settings, note = from_platform.with_platform_workers(workers_given=False)
    assert settings.workers == 1 and settings.problems() == []
    assert note is not None and "$WEB_CONCURRENCY=2 ignored" in note and "$REDIS_URL" in note
    # With Redis it means what it says; an explicit --workers is left for problems() to refuse.
    with_redis = Settings.from_env({"WEB_CONCURRENCY": "2", "REDIS_URL": "redis://r:6379/0"})
    assert with_redis.with_platform_workers(workers_given=False) == (with_redis, None)
    assert from_platform.with_platform_workers(workers_given=True) == (from_platform, None)


def test_tls_and_proxy_settings_are_checked() -> None:
    plain = Settings(redis_url="redis://127.0.0.1:6379/0", redis_tls_no_verify=True)
    assert plain.problems() == [
        "--redis-tls-no-verify needs a rediss:// or rediss+sentinel:// --redis-url"
    ]
    sentinel = Settings(redis_url="rediss+sentinel://h1,h2,h3/show", redis_tls_no_verify=True)
    assert sentinel.problems() == []
    both = Settings(
        redis_url="rediss://r:6380/0", redis_tls_ca=Path("nowhere.pem"), redis_tls_no_verify=True
    )
    assert "--redis-tls-ca and --redis-tls-no-verify: choose one" in both.problems()
    assert "--redis-tls-ca nowhere.pem: no such file" in both.problems()
    proxies = Settings.from_env({"FORWARDED_ALLOW_IPS": "10.1.0.0/16, 2001:db8::1,*"})
    assert proxies.forwarded_allow_ips == ("10.1.0.0/16", "2001:db8::1", "*")
    assert proxies.problems() == []
    assert Settings(forwarded_allow_ips=("router",)).problems() == [
        "--forwarded-allow-ips 'router': use IP addresses or networks (10.0.0.0/8), or *"
    ]
