#!/usr/bin/env python3
"""The reference for bench/fanout.py: the least a Python websocket fan-out can do.

The ``websockets`` library's own server (no compression, pings every 10 s with 10 s to answer,
as our server) and its ``broadcast()`` of one pre-encoded message to every viewer, without
yielding. No store, no protocol, no per-client state.

- A viewer sends any first message (our ``hello``), gets two frames (``welcome`` and a small
  ``snapshot``, as our server sends two) and then only broadcasts.
- The control connection sends ``{"type": "control"}`` first, then
  ``{"type": "go", "seq": N, "text": "..."}``: the server UTF-8-encodes ``text`` once,
  ``broadcast()``s it to every viewer and answers ``{"type": "done", "seq": N,
  "broadcast_ms": ..., "recipients": ...}``. ``text`` is a cue event of the same shape and
  size as ours, built by bench/fanout.py.

Usage: ``python bench/reference_server.py --port P``. Loopback by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve

WELCOME = json.dumps({"type": "welcome", "role": "public", "city": None, "seq": 0, "epoch": "ref"})
SNAPSHOT = json.dumps({"type": "snapshot", "epoch": "ref", "seq": 0, "cities": [], "cues": {}})

viewers: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    try:
        first = await asyncio.wait_for(ws.recv(), 10)
    except (TimeoutError, Exception):
        return
    try:
        hello: Any = json.loads(first)
    except ValueError:
        return
    if isinstance(hello, dict) and hello.get("type") == "control":
        await control(ws)
        return
    await ws.send(WELCOME)
    await ws.send(SNAPSHOT)
    viewers.add(ws)
    try:
        async for _ in ws:
            pass
    except Exception:  # noqa: S110 - a viewer going away is not an error here
        pass
    finally:
        viewers.discard(ws)


async def control(ws: ServerConnection) -> None:
    async for raw in ws:
        command = json.loads(raw)
        if command.get("type") == "go":
            data = command["text"].encode("utf-8")  # encoded once for everyone
            started = time.perf_counter()
            broadcast(viewers, data, text=True)
            elapsed = time.perf_counter() - started
            reply = {
                "type": "done",
                "seq": command.get("seq"),
                "broadcast_ms": round(elapsed * 1000, 3),
                "recipients": len(viewers),
            }
            await ws.send(json.dumps(reply))
        elif command.get("type") == "count":
            await ws.send(json.dumps({"type": "count", "viewers": len(viewers)}))


async def main_async(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        host,
        port,
        compression=None,
        ping_interval=10,
        ping_timeout=10,
        max_size=65536,
        backlog=2048,  # uvicorn's default, so both servers accept alike
    ):
        print(f"reference server on ws://{host}:{port}/", flush=True)
        await stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
