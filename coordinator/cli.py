"""The ``coordinator`` command: serve, check-config, and the operator's tools."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coordinator import auth, views
from coordinator import config as config_mod
from coordinator.limits import DESCRIPTIONS, Limits
from coordinator.rules import Role

DEFAULT_CONFIG = Path("config/cities.yaml")
DEFAULT_PORT = 8000


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coordinator`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coordinator",
        description="Keeps the cities of a simultaneous public reading in step.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web and websocket server")
    serve.add_argument(
        "--config", type=Path, default=_env_path("COORDINATOR_CONFIG", DEFAULT_CONFIG)
    )
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", DEFAULT_PORT)),
        help="port to listen on (default: $PORT, else 8000)",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=_env_path("COORDINATOR_DATA_DIR", Path("data")),
        help="where the embedded store keeps its database (default: ./data)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="move the whole event to start a few minutes from now (times keep their gaps)",
    )
    serve.add_argument(
        "--secrets",
        type=Path,
        default=None,
        help="token hashes file (default: $COORDINATOR_SECRETS, else config/secrets.yaml)",
    )
    serve.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="share state over Redis, e.g. redis://127.0.0.1:6379/0 (default: $REDIS_URL)",
    )
    serve.add_argument(
        "--redis-prefix",
        default=os.environ.get("COORDINATOR_REDIS_PREFIX"),
        help="prefix of every Redis key (default: coordinator:EVENT_ID:)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="server processes on this host (needs --redis-url when more than 1)",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[o for o in os.environ.get("COORDINATOR_ALLOWED_ORIGINS", "").split(",") if o],
        metavar="ORIGIN",
        help="another origin whose pages may open the websocket, e.g. https://example.org "
        "(repeatable; the server's own origin and event.public_url are always allowed)",
    )
    serve.add_argument(
        "--limit",
        action="append",
        default=[p for p in os.environ.get("COORDINATOR_LIMITS", "").split(",") if p],
        metavar="NAME=VALUE",
        help="change a limit (repeatable; docs/security.md): "
        + ", ".join(f"{name} ({text})" for name, text in DESCRIPTIONS.items()),
    )
    serve.add_argument(
        "--osc-port",
        type=int,
        default=int(os.environ["COORDINATOR_OSC_PORT"])
        if os.environ.get("COORDINATOR_OSC_PORT")
        else None,
        help="listen for OSC cue commands on this UDP port (off by default; docs/integrations.md)",
    )
    serve.add_argument(
        "--osc-host",
        default=os.environ.get("COORDINATOR_OSC_HOST", "127.0.0.1"),
        help="address of the OSC listener (default 127.0.0.1: this machine only)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=cmd_serve)

    token = sub.add_parser("token", help="create, list and revoke access tokens")
    token_sub = token.add_subparsers(title="token commands", metavar="ACTION")
    add = token_sub.add_parser("add", help="create a token; it is printed once, on the last line")
    add.add_argument("--role", required=True, choices=[r.value for r in auth.STAFF_ROLES])
    add.add_argument("--city", help="the city a coordinator or operator token is bound to")
    add.add_argument("--label", default="", help="who holds it, for `token list`")
    add.add_argument("--config", type=Path, default=None, help="check --city against this config")
    add.set_defaults(handler=cmd_token_add)
    listing = token_sub.add_parser("list", help="list tokens (ids and roles, never the tokens)")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=cmd_token_revoke)
    for action in (add, listing, revoke):
        action.add_argument("--secrets", type=Path, default=None, help="token hashes file")

    cal = sub.add_parser("calendar", help="write the ICS feed to stdout, for static hosting")
    cal.add_argument("--config", type=Path, default=_env_path("COORDINATOR_CONFIG", DEFAULT_CONFIG))
    cal.add_argument("--city", action="append", help="only this city (repeat for several)")
    cal.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="the dashboard's address for links, unless the config sets event.public_url",
    )
    cal.set_defaults(handler=cmd_calendar)

    cue_cmd = sub.add_parser("cues", help="surtitle cue scripts")
    cue_sub = cue_cmd.add_subparsers(title="cue commands", metavar="ACTION")
    check_cues = cue_sub.add_parser(
        "check",
        help="validate a script: one CSV/TSV/YAML/xlsx file (book.xlsx#Sheet for a sheet), "
        "or SRT/VTT files (name.LANG.srt)",
    )
    check_cues.add_argument("files", nargs="+", type=Path)
    check_cues.add_argument(
        "--json", action="store_true", help="print the parsed cues (what the screens show)"
    )
    check_cues.set_defaults(handler=cmd_cues_check)

    check = sub.add_parser("check-config", help="validate a config file and print the schedule")
    check.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)
    check.set_defaults(handler=cmd_check_config)
    return parser


def settings_env(settings: Any, log_level: str) -> dict[str, str]:
    env = {
        "COORDINATOR_LIMITS": settings.limits.as_env(),
        "COORDINATOR_ALLOWED_ORIGINS": ",".join(settings.allowed_origins),
        "COORDINATOR_CONFIG": str(settings.config_path),
        "COORDINATOR_DATA_DIR": str(settings.data_dir),
        "COORDINATOR_LOG_LEVEL": log_level,
        "COORDINATOR_DEMO": "1" if settings.demo else "0",
    }
    if settings.secrets_path is not None:
        env["COORDINATOR_SECRETS"] = str(settings.secrets_path)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    if settings.redis_prefix:
        env["COORDINATOR_REDIS_PREFIX"] = settings.redis_prefix
    if settings.osc_port is not None:
        env["COORDINATOR_OSC_PORT"] = str(settings.osc_port)
        env["COORDINATOR_OSC_HOST"] = settings.osc_host
    return env


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        cfg = config_mod.load(args.path)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    reference = cfg.cities[0]
    header = ("city", "local start", "UTC", f"{reference.name.get('en', reference.id)} time")
    rows = [header, *views.schedule_table(cfg, reference.timezone)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"{args.path}: {len(cfg.cities)} cities, ok")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from coordinator import logs, scripts
    from coordinator.app import Settings, create_app
    from coordinator.state import sqlite
    from coordinator.state.base import StoreError

    logs.configure(args.log_level.upper())
    try:
        limits = Limits().with_overrides(args.limit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    settings = Settings(
        config_path=args.config,
        data_dir=args.data_dir,
        demo=args.demo,
        secrets_path=args.secrets,
        redis_url=args.redis_url or None,
        redis_prefix=args.redis_prefix,
        limits=limits,
        allowed_origins=tuple(args.allowed_origin),
        osc_port=args.osc_port,
        osc_host=args.osc_host,
    )
    if args.workers > 1 and args.osc_port is not None:
        print(
            "error: --osc-port works with one process (each would bind the port)", file=sys.stderr
        )
        return 1
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 1
    if args.workers > 1 and not settings.redis_url:
        print(
            "error: --workers above 1 needs --redis-url: processes share their state in Redis",
            file=sys.stderr,
        )
        return 1
    try:
        if not settings.redis_url:
            sqlite.verify(args.data_dir)
        app = create_app(settings)
    except (config_mod.ConfigError, scripts.ScriptError) as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (StoreError, auth.SecretsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    target: Any = app
    if args.workers > 1:
        # Each worker process builds its own app from the same settings, passed by environment.
        os.environ.update(settings_env(settings, args.log_level))
        target = "coordinator.app:app_from_env"
    uvicorn.run(
        target,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,  # our own access log drops query strings
        log_config=None,  # logs.configure() set up uvicorn's loggers, with redaction
        server_header=False,
        # Compression off: it doubles fan-out CPU and memory, and invites compression bombs.
        ws_per_message_deflate=False,
        ws_max_size=limits.max_frame_bytes,
        ws_ping_interval=limits.ping_interval_s,
        ws_ping_timeout=limits.ping_timeout_s,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    path = auth.secrets_path_from_env(args.secrets)
    role = Role(args.role)
    if args.config is not None and args.city:
        try:
            cfg = config_mod.load(args.config)
        except config_mod.ConfigError as exc:
            print(f"error: {exc.problems[0]}", file=sys.stderr)
            return 1
        if cfg.city(args.city) is None:
            print(f"error: no city {args.city!r} in {args.config}", file=sys.stderr)
            return 1
    try:
        token, record = auth.add_token(path, role, args.city, args.label)
    except (ValueError, auth.SecretsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f" for {record.city}" if record.city else ""
    print(f"created {record.role} token {record.id}{where} in {path}; it is shown only once:")
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    path = auth.secrets_path_from_env(args.secrets)
    try:
        records = auth.read_records(path)
    except auth.SecretsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in records:
        print(f"{r.id}  {r.role.value:<11}  {r.city or '-':<10}  {r.created}  {r.label}".rstrip())
    if not records:
        print(f"no tokens in {path}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    path = auth.secrets_path_from_env(args.secrets)
    try:
        removed = auth.revoke_token(path, args.token_id)
    except auth.SecretsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not removed:
        print(f"error: no token {args.token_id!r} in {path}", file=sys.stderr)
        return 1
    print(f"revoked {args.token_id}")
    return 0


def cmd_cues_check(args: argparse.Namespace) -> int:
    from coordinator import scripts

    report = scripts.check(args.files)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else 1


def cmd_calendar(args: argparse.Namespace) -> int:
    from coordinator import ical_feed

    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    unknown = [c for c in args.city or [] if cfg.city(c) is None]
    if unknown:
        print(f"error: no city {unknown[0]!r} in {args.config}", file=sys.stderr)
        return 1
    body = ical_feed.build_feed(cfg, {}, base_url=args.base_url, city_ids=args.city)
    sys.stdout.buffer.write(body)
    return 0
