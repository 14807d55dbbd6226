"""Clients that ask for the same thing in a loop, run as a process of their own (at the lowest
CPU priority) so that the test measuring a coordinator's acks is not slowed by their threads
(loopback only).

    python -m tests.hostile.loops replay WS_URL CLIENTS SECONDS BACK[,BACK...]
    python -m tests.hostile.loops fetch URL[,URL...] CLIENTS SECONDS

``replay``: each client reconnects again and again with ``since`` BACK events behind the
current seq and reads what it is sent (a replay or a snapshot); ``fetch``: each GETs its URL
again and again. Client n uses the n-th BACK or URL (round robin). Prints the number of
answers served as JSON when SECONDS are over.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.harness import ROOT, http_request


def replay_loop(url: str, back: int, stop: threading.Event, counts: list[int]) -> None:
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello"}))
        welcome = json.loads(ws.recv(timeout=10))
    seq, epoch = welcome["seq"], welcome["epoch"]
    while not stop.is_set():
        try:
            with connect(url, open_timeout=10, max_size=None) as ws:
                ws.send(json.dumps({"type": "hello", "since": seq - back, "epoch": epoch}))
                seq = json.loads(ws.recv(timeout=10))["seq"]
                while True:
                    message = json.loads(ws.recv(timeout=20))
                    if message["type"] == "snapshot":
                        break
                    if message["type"] == "event" and message["seq"] >= seq:
                        break
            counts.append(1)
        except (ConnectionClosed, OSError, TimeoutError):
            time.sleep(0.05)


def fetch_loop(url: str, stop: threading.Event, counts: list[int]) -> None:
    while not stop.is_set():
        status, _, body = http_request("GET", url)
        if status == 200 and body:
            counts.append(1)


def main(argv: list[str]) -> int:
    # A real attacker's clients run on machines of their own; here they share the server's two
    # cores, so they yield them: what is measured is the server's cost, not this process's.
    os.nice(19)
    kind, target, clients, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    stop = threading.Event()
    counts: list[int] = []
    jobs: list[Callable[[], None]]
    if kind == "replay":
        backs = [int(b) for b in argv[4].split(",")]
        jobs = [
            functools.partial(replay_loop, target, backs[n % len(backs)], stop, counts)
            for n in range(clients)
        ]
    else:
        urls = target.split(",")
        jobs = [
            functools.partial(fetch_loop, urls[n % len(urls)], stop, counts) for n in range(clients)
        ]
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(20)
    print(json.dumps({"served": len(counts)}), flush=True)
    return 0


@contextlib.contextmanager
def running(*args: Any) -> Iterator[dict[str, int]]:
    """The loops in a child process (its own process group, killed at the end); the dict
    gets ``served`` once they have finished."""
    result: dict[str, int] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.loops", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield result
        out, _ = proc.communicate(timeout=float(args[3]) + 30)
        result.update(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
