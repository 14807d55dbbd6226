"""The ``coordinator`` command: serve, check-config, and the operator's tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import coordinator
from coordinator import auth, processes, resources, views
from coordinator import config as config_mod
from coordinator.limits import DESCRIPTIONS
from coordinator.rules import Role
from coordinator.settings import (
    DEFAULT_CONFIG,
    ENVIRONMENT,
    LOG_FORMATS,
    LOG_LEVELS,
    Settings,
    SettingsError,
)

CONFIG_VARIABLE = ENVIRONMENT["config_path"].name
log = logging.getLogger("coordinator")


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
    parser.add_argument(
        "--version", action="version", version=f"coordinator {coordinator.__version__}"
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the web and websocket server",
        description="Run the web and websocket server. Every option also has an environment "
        "variable (docs/deploy.md); an option given here wins over its variable.",
    )
    _add_serve_options(serve)
    serve.set_defaults(handler=cmd_serve)

    _add_token_commands(sub)

    cal = sub.add_parser(
        "calendar",
        help="write the ICS feed to stdout, for static hosting",
        description="Write the feed the server serves: the config with the store's schedule "
        "edits, delays and cancellations (the same store options as serve).",
    )
    _add_serve_options(cal, only=STORE_OPTIONS)
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

    init = sub.add_parser(
        "init",
        help="write a starter config (the example event and its demo script) to edit",
        description="Write DIR/config/cities.yaml and DIR/config/scripts/demo.csv, the example "
        "event, for `coordinator serve` run in DIR. Refuses to overwrite anything.",
    )
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    init.set_defaults(handler=cmd_init)

    check = sub.add_parser("check-config", help="validate a config file and print the schedule")
    check.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)
    check.set_defaults(handler=cmd_check_config)
    return parser


def _add_token_commands(sub: Any) -> None:
    """``coordinator token add|list|revoke``, on the store ``serve`` uses."""
    token = sub.add_parser(
        "token",
        help="create, list and revoke access tokens",
        description="Tokens live in the store `serve` uses (the same options and variables "
        "name it); these commands work beside a running server, which sees each change "
        "within a second.",
    )
    token_sub = token.add_subparsers(title="token commands", metavar="ACTION")
    add = token_sub.add_parser("add", help="create a token; it is printed once, on the last line")
    add.add_argument("--role", required=True, choices=[r.value for r in auth.STAFF_ROLES])
    add.add_argument("--city", help="the city a coordinator or operator token is bound to")
    add.add_argument("--label", default="", help="who holds it, for `token list`")
    add.set_defaults(handler=cmd_token_add)
    listing = token_sub.add_parser("list", help="list tokens (ids and roles, never the tokens)")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=cmd_token_revoke)
    for action in (add, listing, revoke):
        _add_serve_options(action, TOKEN_OPTIONS)


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


def cmd_init(args: argparse.Namespace) -> int:
    target = args.dir / DEFAULT_CONFIG.parent
    paths = {name: target / name for name in resources.EXAMPLE_FILES}
    present = [str(path) for path in paths.values() if path.exists()]
    for path in present:
        print(f"error: {path} already exists; nothing written", file=sys.stderr)
    if present:
        return 1
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(resources.example_file(name))
        print(f"wrote {path}")
    print(
        f"Edit {paths['cities.yaml']} (docs/config.md), check it with `coordinator check-config`,"
        " then run `coordinator serve` in that folder."
    )
    return 0


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


# --option -> the Settings field it sets; every one defaults to its environment variable.
_SERVE_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--config": ("config_path", {"type": Path, "help": "the event's config file"}),
    "--host": ("host", {"help": "address to listen on (default 127.0.0.1)"}),
    "--port": ("port", {"type": int, "help": "port to listen on (default 8000)"}),
    "--data-dir": (
        "data_dir",
        {"type": Path, "help": "where the embedded store keeps its database (default ./data)"},
    ),
    "--demo": (
        "demo",
        {
            "action": "store_true",
            "help": "move the whole event to start a few minutes from now (times keep their gaps)",
        },
    ),
    "--secrets": (
        "secrets_path",
        {
            "type": Path,
            "help": "a token hashes file to import into the store once, at start: its tokens "
            "the store never held (default config/secrets.yaml, if present)",
        },
    ),
    "--redis-url": (
        "redis_url",
        {
            "help": "share state over Redis, e.g. redis://127.0.0.1:6379/0, or through "
            "Sentinel: redis+sentinel://HOST:PORT,HOST:PORT/SERVICE (rediss: TLS)"
        },
    ),
    "--redis-min-replicas": (
        "redis_min_replicas",
        {
            "type": int,
            "metavar": "N",
            "help": "acknowledge a change once N Redis replicas hold it too (default: 1 while "
            "the primary has a replica online, else 0)",
        },
    ),
    "--redis-prefix": (
        "redis_prefix",
        {"help": "prefix of every Redis key (default: coordinator:EVENT_ID:)"},
    ),
    "--workers": (
        "workers",
        {"type": int, "help": "server processes on this host (more than 1 needs --redis-url)"},
    ),
    "--allowed-origin": (
        "allowed_origins",
        {
            "action": "append",
            "metavar": "ORIGIN",
            "help": "another origin whose pages may open the websocket, e.g. https://example.org "
            "(repeatable; the server's own origin and event.public_url are always allowed)",
        },
    ),
    "--allowed-host": (
        "allowed_hosts",
        {
            "action": "append",
            "metavar": "HOST",
            "help": "a Host name (with its port, if not the default) QR codes and calendar "
            "links may be drawn from when the config sets no event.public_url (repeatable)",
        },
    ),
    "--limit": (
        "limits",
        {
            "action": "append",
            "metavar": "NAME=VALUE",
            "help": "change a limit (repeatable; docs/security.md): "
            + ", ".join(f"{name} ({text})" for name, text in DESCRIPTIONS.items()),
        },
    ),
    "--osc-port": (
        "osc_port",
        {"type": int, "help": "listen for OSC cue commands on this UDP port (off by default)"},
    ),
    "--osc-host": (
        "osc_host",
        {"help": "address of the OSC listener (default 127.0.0.1: this machine only)"},
    ),
    "--log-level": ("log_level", {"choices": list(LOG_LEVELS)}),
    "--log-format": (
        "log_format",
        {"choices": list(LOG_FORMATS), "help": "json: one JSON object per line, for collectors"},
    ),
    "--redis-tls-ca": (
        "redis_tls_ca",
        {
            "type": Path,
            "metavar": "FILE",
            "help": "verify a rediss:// server against this CA file (a platform's own CA)",
        },
    ),
    "--redis-tls-no-verify": (
        "redis_tls_no_verify",
        {
            "action": "store_true",
            "help": "rediss:// without checking the server's certificate (logs a warning)",
        },
    ),
    "--forwarded-allow-ips": (
        "forwarded_allow_ips",
        {
            "type": _comma_list,
            "metavar": "IPS",
            "help": "comma-separated addresses or networks of the reverse proxies whose "
            "X-Forwarded-For/-Proto/-Host are believed, or * (default 127.0.0.1)",
        },
    ),
}


# The options that name the config and the store, for commands that read the store as serve
# does (``coordinator calendar``).
STORE_OPTIONS = (
    "--config",
    "--data-dir",
    "--redis-url",
    "--redis-prefix",
    "--redis-tls-ca",
    "--redis-tls-no-verify",
)
# The token commands: the store's options, and the secrets file to import.
TOKEN_OPTIONS = (*STORE_OPTIONS, "--secrets")


def _add_serve_options(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    """Each option defaults to nothing, so that only what was typed overrides the environment.
    ``only``: just these of the serve options."""
    for option, (name, kwargs) in _SERVE_OPTIONS.items():
        if only is not None and option not in only:
            continue
        help_text = f"{kwargs.get('help', '')} [${ENVIRONMENT[name].name}]".strip()
        parser.add_argument(option, **{**kwargs, "help": help_text, "default": argparse.SUPPRESS})


def serve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The environment's settings with the given options over them. ``--limit`` and
    ``--allowed-origin`` add to their variables' values. Raises SettingsError or ValueError."""
    settings = Settings.from_env(env)
    given = vars(args)
    changes: dict[str, Any] = {}
    for option, (name, _) in _SERVE_OPTIONS.items():
        dest = option.lstrip("-").replace("-", "_")
        if dest in given:
            changes[name] = given[dest]
    if "limits" in changes:
        changes["limits"] = settings.limits.with_overrides(changes["limits"])
    if "allowed_origins" in changes:
        changes["allowed_origins"] = (*settings.allowed_origins, *changes["allowed_origins"])
    if "allowed_hosts" in changes:
        given_hosts = tuple(host.lower() for host in changes["allowed_hosts"])
        changes["allowed_hosts"] = (*settings.allowed_hosts, *given_hosts)
    return settings.with_changes(**changes)


def config_to_serve(settings: Settings, given: bool) -> tuple[Settings, list[str]]:
    """The config to serve: the one given; else ``config/cities.yaml`` in this folder; else,
    with ``--demo``, the packaged example event, with a note saying so. Raises ValueError
    saying what to do when there is none."""
    if given or settings.config_path.exists():
        return settings, []
    if settings.demo:
        example = resources.example_config()
        note = (
            f"no {settings.config_path} in this folder: serving the packaged example event "
            f"({example}); `coordinator init` writes a copy to edit"
        )
        return settings.with_changes(config_path=example), [note]
    raise ValueError(
        f"no {settings.config_path} in this folder: run `coordinator init` to write a starter "
        "one, pass --config PATH, or try the example event with `coordinator serve --demo`"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from coordinator import logs, scripts
    from coordinator.app import create_app
    from coordinator.state import sqlite
    from coordinator.state.base import StoreError

    try:
        settings = serve_settings(args, os.environ)
        config_given = "config" in vars(args) or bool(os.environ.get(CONFIG_VARIABLE))
        settings, notes = config_to_serve(settings, config_given)
        settings, workers_note = settings.with_platform_workers("workers" in vars(args))
        notes += [workers_note] if workers_note else []
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = settings.problems()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    logs.configure(settings.log_level.upper(), settings.log_format)
    for note in notes:
        log.warning(note)
    try:
        # The lock first: a second server must not even read a database another one writes.
        lock = None if settings.redis_url else processes.hold_data_dir(settings.data_dir)
        if settings.redis_url:
            from coordinator.state import redis_connect as redis_store

            tls = redis_store.tls_options(
                settings.redis_url, settings.redis_tls_ca, settings.redis_tls_no_verify
            )
            redis_store.verify(settings.redis_url, tls)
        else:
            sqlite.verify(settings.data_dir)
        app = create_app(settings)
    except (config_mod.ConfigError, scripts.ScriptError) as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (StoreError, auth.SecretsError, processes.DataDirBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if settings.redis_tls_no_verify:
        log.warning(
            "--redis-tls-no-verify: the Redis server's certificate is not checked; the "
            "connection is encrypted but open to a man in the middle (docs/deploy.md)"
        )
    run_server(app, settings)
    if lock is not None:
        lock.release()
    return 0


def run_server(app: Any, settings: Settings) -> None:
    """Serve ``app`` with uvicorn; with several workers each process builds its own app from
    the same settings, handed over through the environment (``Settings.to_env``)."""
    import uvicorn

    from coordinator.tcp_guard import GuardedHttp, raise_open_files_limit

    raise_open_files_limit()  # before the workers start: they inherit it
    target: Any = app
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        processes.mark_supervisor()
        target = "coordinator.processes:worker_app"
    else:
        processes.ignore_sighup()
    limits = settings.limits
    uvicorn.run(
        target,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # our own access log drops query strings
        log_config=None,  # logs.configure() set up uvicorn's loggers, with redaction
        server_header=False,
        # ForwardedHeaders (coordinator/proxy.py) applies uvicorn's proxy middleware itself,
        # after reading X-Forwarded-Host, for which it needs the peer uvicorn would replace.
        proxy_headers=False,
        http=GuardedHttp,  # per-address TCP cap and request-head deadline (tcp_guard.py)
        timeout_keep_alive=5,  # an idle keep-alive connection is closed after 5 s
        # Compression off: it doubles fan-out CPU and memory, and invites compression bombs.
        ws_per_message_deflate=False,
        ws_max_size=limits.max_frame_bytes,
        ws_ping_interval=limits.ping_interval_s,
        ws_ping_timeout=limits.ping_timeout_s,
        timeout_graceful_shutdown=10,
    )


def _token_store(args: argparse.Namespace) -> tuple[Any, Any]:
    """The store the token options name, with the config (its cities), and the book that
    imports the secrets file. Raises ValueError, config.ConfigError or auth.SecretsError."""
    from coordinator.app import make_store

    settings = serve_settings(args, os.environ)
    problems = settings.problems()
    if problems:
        raise ValueError(problems[0])
    config_given = "config" in vars(args) or bool(os.environ.get(CONFIG_VARIABLE))
    if not config_given and not settings.config_path.exists():
        # `serve --demo` in a folder without one serves the packaged example event.
        settings = settings.with_changes(config_path=resources.example_config())
    cfg = config_mod.load(settings.config_path)
    return make_store(cfg, settings), auth.TokenBook(
        auth.secrets_path_from_env(settings.secrets_path)
    )


def _run_on_tokens(args: argparse.Namespace, work: Any) -> int:
    """Open the store for the token commands, import the secrets file, run ``work(store)``
    (a coroutine function returning the exit status); errors are one line on stderr."""
    import asyncio

    from coordinator.state.base import StoreError

    try:
        store, book = _token_store(args)
    except config_mod.ConfigError as exc:
        print(f"error: {exc.problems[0]}", file=sys.stderr)
        return 1
    except (ValueError, auth.SecretsError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        await store.open_tokens()
        try:
            await book.start(store, follow=False)
            status: int = await work(store)
            return status
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_token_add(args: argparse.Namespace) -> int:
    role = Role(args.role)

    async def work(store: Any) -> int:
        if args.city and store.config.city(args.city) is None:
            print(f"error: no city {args.city!r} in this event's config", file=sys.stderr)
            return 1
        try:
            token, record = auth.new_token(role, args.city, args.label)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        await store.save_token(record)
        where = f" for {record.city}" if record.city else ""
        print(f"created {record.role} token {record.id}{where}; it is shown only once:")
        print(token)
        return 0

    return _run_on_tokens(args, work)


def cmd_token_list(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        records = await store.tokens()
        for r in records:
            used = r.last_used or "never used"
            print(
                f"{r.id}  {r.role.value:<11}  {r.city or '-':<10}  {r.created}  {used:<20}  "
                f"{r.label}".rstrip()
            )
        if not records:
            print("no tokens in the store")
        return 0

    return _run_on_tokens(args, work)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    async def work(store: Any) -> int:
        if not await store.delete_token(args.token_id, datetime.now(UTC)):
            print(f"error: no token {args.token_id!r} in the store", file=sys.stderr)
            return 1
        print(f"revoked {args.token_id}; running servers drop it within a second")
        return 0

    return _run_on_tokens(args, work)


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
    """The feed as the server would serve it: the config, with the store's schedule edits,
    delays and cancellations (read without joining the store: coordinator/state/peek.py)."""
    from coordinator import ical_feed, overrides
    from coordinator.state import peek
    from coordinator.state.base import StoreError

    try:
        settings = serve_settings(args, os.environ)
        cfg = config_mod.load(settings.config_path)
        state = peek.read_store(settings, cfg)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (SettingsError, ValueError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not state.found:
        print(
            "note: no event state in the store yet (no database in the data directory, or "
            "nothing under the Redis prefix): the config's schedule only",
            file=sys.stderr,
        )
    cfg = overrides.effective(cfg, state.overrides)
    unknown = [c for c in args.city or [] if cfg.city(c) is None]
    if unknown:
        print(f"error: no city {unknown[0]!r} in {settings.config_path}", file=sys.stderr)
        return 1
    body = ical_feed.build_feed(cfg, state.statuses, base_url=args.base_url, city_ids=args.city)
    sys.stdout.buffer.write(body)
    return 0
