"""The ``coordinator`` command: serve, check-config, and the operator's tools."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from coordinator import config as config_mod
from coordinator import views

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
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=cmd_serve)

    check = sub.add_parser("check-config", help="validate a config file and print the schedule")
    check.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)
    check.set_defaults(handler=cmd_check_config)
    return parser


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

    from coordinator import logs
    from coordinator.app import Settings, create_app

    logs.configure(args.log_level.upper())
    settings = Settings(config_path=args.config, data_dir=args.data_dir, demo=args.demo)
    try:
        app = create_app(settings)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,  # our own access log drops query strings
        server_header=False,
        ws_per_message_deflate=False,
        ws_max_size=65536,
        ws_ping_interval=10.0,
        ws_ping_timeout=10.0,
        timeout_graceful_shutdown=10,
    )
    return 0
