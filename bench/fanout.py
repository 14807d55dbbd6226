#!/usr/bin/env python3
"""Fan-out benchmark: how long a GO takes to reach every surtitle phone.

One run starts the real server as in production (``coordinator serve``: uvicorn with the
Procfile's flags), opens N viewer websockets from a separate lean client process
(bench/loadclient.py), presses GO M times, one a second, from a real operator websocket, and
records for every viewer the delay from the press to the arrival of the new cue, on the same
machine clock (CLOCK_MONOTONIC). In the same run and with the same client it measures a
reference server that does the least possible (bench/reference_server.py: the ``websockets``
library's server and its ``broadcast()`` of one pre-encoded message) and prints ours /
reference, since absolute times on a shared machine are noise.

Per run it prints: delivered / expected, p50, p99 and max delay (over every viewer and every GO
but the first, which warms up), the fan-out time (last arrival minus first arrival per GO,
median), server CPU per GO and per recipient (CPU over the GO phase minus the idle rate measured
just before, which includes the keepalive pings), and server memory per connected viewer (RSS
after connecting minus before, divided by N).

On two or more cores the server is pinned to CPU 0 and the load client, the operator and this
script to CPU 1 (``taskset``), as in docs/performance.md; runs with several workers float.

Examples::

    python bench/fanout.py                      # the table: 1,000 / 5,000 / 10,000, and reference
    python bench/fanout.py --all                # + stalled, status, Redis 2 workers, wrk
    python bench/fanout.py --short              # CI: 200 viewers, 3 GOs, delivery only
    python bench/fanout.py --viewers 10000 --stalled --with-status --no-reference

Exit status 1 when a cue did not reach every viewer that should have had it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from coordinator import cue_state, protocol, scripts  # noqa: E402
from coordinator.auth import add_token  # noqa: E402
from coordinator.rules import Role  # noqa: E402
from coordinator.schedule import iso_utc  # noqa: E402

CONFIG = ROOT / "config" / "cities.yaml"
SCRIPT = ROOT / "config" / "scripts" / "demo.csv"
LOADCLIENT = ROOT / "bench" / "loadclient.py"
REFERENCE = ROOT / "bench" / "reference_server.py"
CITY = "paris"
STATUS_CITIES = ("berlin", "winnipeg", "toronto", "new-york", "chennai", "helsinki")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_VIEWERS_PER_CLIENT = 9000  # each client process stays well under the 20,000 open files cap
monotonic = time.monotonic


# -- processes: CPU, memory, pinning ----------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes, from /proc/PID/stat."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kb(pids: list[int]) -> int:
    """Resident memory of these processes, from /proc/PID/status (VmRSS)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def priority_prefix(spec: Spec) -> list[str]:
    """``chrt -r 10`` with --realtime: round-robin real-time priority, so that other work on
    a shared machine does not preempt the servers and clients under test."""
    return ["chrt", "-r", "10"] if spec.realtime else []


def can_pin() -> bool:
    return shutil.which("taskset") is not None and len(all_cpus()) >= 2


def all_cpus() -> set[int]:
    return set(range(os.cpu_count() or 1))


# -- one run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    label: str
    server: str  # "ours" or "reference"
    viewers: int
    gos: int
    interval: float
    idle_seconds: float
    stalled: int = 0
    status_rate: float = 0.0
    workers: int = 1
    redis_url: str | None = None
    clients: int = 1
    pin: bool = True
    profile_dir: Path | None = None
    realtime: bool = False
    gc_watch: bool = False
    gc_freeze: float = 0.0


@dataclass
class Run:
    spec: Spec
    goes: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --gc-watch: the same server, started through a few lines that log how long each of the
# garbage collector's passes takes (gc.callbacks), and nothing else. --gc-freeze S (an
# experiment, not production) also calls gc.freeze() every S seconds from a thread.
GC_WATCH = """
import gc, sys, time
_started = {}
def _watch(phase, info):
    if phase == "start":
        _started["t"] = time.perf_counter()
    else:
        ms = (time.perf_counter() - _started.get("t", time.perf_counter())) * 1000
        if info["generation"] == 2 or ms >= 5:
            print(f"bench-gc t={time.monotonic():.4f} gen={info['generation']} ms={ms:.1f} "
                  f"collected={info['collected']}", file=sys.stderr, flush=True)
gc.callbacks.append(_watch)
_freeze = float(__import__("os").environ.get("BENCH_GC_FREEZE_S", "0"))
if _freeze > 0:
    import threading
    def _freezer():
        while True:
            time.sleep(_freeze)
            gc.freeze()
    threading.Thread(target=_freezer, daemon=True).start()
from coordinator.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Server:
    """Our server or the reference one, as a child process with its log in a file."""

    def __init__(self, spec: Spec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"{spec.server}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.secrets = workdir / "secrets.yaml"
        self.operator_token = ""
        self.coordinator_tokens: dict[str, str] = {}
        self.redis_prefix: str | None = None

    def command(self) -> list[str]:
        prefix = ["taskset", "-c", "0"] if self.spec.pin and can_pin() else []
        prefix += priority_prefix(self.spec)
        if self.spec.server == "reference":
            return [*prefix, sys.executable, str(REFERENCE), "--port", str(self.port)]
        self.operator_token, _ = add_token(self.secrets, Role.OPERATOR, CITY, "bench operator")
        for city in STATUS_CITIES:
            token, _ = add_token(self.secrets, Role.COORDINATOR, city, "bench status")
            self.coordinator_tokens[city] = token
        extra: list[str] = []
        if self.spec.redis_url:
            self.redis_prefix = f"bench-{secrets.token_hex(6)}:"
            extra = ["--redis-url", self.spec.redis_url, "--redis-prefix", self.redis_prefix]
        if self.spec.workers > 1:
            extra += ["--workers", str(self.spec.workers)]
        return [
            *prefix, sys.executable,
            *(["-c", GC_WATCH] if self.spec.gc_watch else ["-m", "coordinator"]), "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--config", str(CONFIG),
            "--data-dir", str(self.workdir / f"data-{self.port}"),
            "--secrets", str(self.secrets),
            *extra,
        ]  # fmt: skip

    def start(self) -> None:
        env = {**os.environ, "BENCH_GC_FREEZE_S": str(self.spec.gc_freeze)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
            )
        deadline = monotonic() + 30
        while monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within 30 s:\n{self.log()[-3000:]}")

    def ready(self) -> bool:
        if self.spec.server == "reference":
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    @property
    def pids(self) -> list[int]:
        assert self.proc is not None
        return process_tree(self.proc.pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                for pid in self.pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.redis_prefix and self.spec.redis_url:
            delete_redis_keys(self.spec.redis_url, self.redis_prefix)


def delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class LoadClients:
    """The lean client, split over processes so each stays under the open files cap."""

    def __init__(self, spec: Spec, port: int, workdir: Path) -> None:
        self.spec = spec
        self.port = port
        self.workdir = workdir
        self.procs: list[asyncio.subprocess.Process] = []
        self.outs: list[Path] = []
        self.ready: list[dict[str, Any]] = []

    async def start(self) -> None:
        count = max(self.spec.clients, math.ceil(self.spec.viewers / MAX_VIEWERS_PER_CLIENT))
        shares = [
            self.spec.viewers // count + (i < self.spec.viewers % count) for i in range(count)
        ]
        for i, share in enumerate(shares):
            out = self.workdir / f"client-{self.port}-{i}.json"
            stalled = self.spec.stalled if i == 0 else 0
            err = (self.workdir / f"client-{self.port}-{i}.err").open("wb")
            proc = await asyncio.create_subprocess_exec(
                *priority_prefix(self.spec), sys.executable, str(LOADCLIENT),
                "--port", str(self.port), "--viewers", str(share), "--stalled", str(stalled),
                "--address-base", str(i * 100),
                "--out", str(out), "--max-seconds", str(self.max_seconds()),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
            )  # fmt: skip
            err.close()
            self.procs.append(proc)
            self.outs.append(out)
        timeout = 60 + self.spec.viewers / 100
        for proc in self.procs:
            self.ready.append(await self._line(proc, "ready", timeout))

    def max_seconds(self) -> float:
        spec = self.spec
        return 300 + spec.viewers / 50 + spec.gos * spec.interval + spec.idle_seconds

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def _line(self, proc: asyncio.subprocess.Process, event: str, limit_s: float) -> Any:
        assert proc.stdout is not None
        deadline = monotonic() + limit_s
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise RuntimeError(f"load client {proc.pid}: no {event!r} within {limit_s:.0f} s")
            line = await asyncio.wait_for(proc.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"load client {proc.pid} exited before {event!r}")
            message = json.loads(line)
            if message.get("event") == event:
                return message

    async def tell(self, command: str) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.write(command.encode() + b"\n")
                await proc.stdin.drain()

    async def stop(self) -> dict[str, Any]:
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.write(b"stop\n")
                    await proc.stdin.drain()
        for proc in self.procs:
            with contextlib.suppress(Exception):
                await self._line(proc, "done", 180)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        merged: dict[str, Any] = {
            "viewers": 0, "failed": 0, "frames": 0, "arrivals": {}, "duplicates": 0,
            "decode_errors": 0, "other_messages": {}, "closed": {}, "errors": 0, "stalled": [],
            "ready_seconds": 0.0, "cue_bytes": {},
        }  # fmt: skip
        for out in self.outs:
            part = json.loads(out.read_text())
            for key in ("viewers", "failed", "frames", "duplicates", "decode_errors", "errors"):
                merged[key] += part[key]
            merged["ready_seconds"] = max(merged["ready_seconds"], part["ready_seconds"])
            for seq, times in part["arrivals"].items():
                merged["arrivals"].setdefault(int(seq), []).extend(times)
            for key in ("other_messages", "closed", "cue_bytes"):
                for name, n in part[key].items():
                    merged[key][name] = merged[key].get(name, 0) + n
            merged["stalled"].extend(part["stalled"])
            out.unlink()
        return merged

    def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()


async def recv_json(ws: ClientConnection, limit_s: float) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), limit_s)
    message: dict[str, Any] = json.loads(raw)
    return message


async def recv_until(ws: ClientConnection, want: Any, limit_s: float = 30.0) -> dict[str, Any]:
    deadline = monotonic() + limit_s
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise RuntimeError(f"no expected message within {limit_s} s")
        message = await recv_json(ws, remaining)
        if want(message):
            return message


class StatusFlow:
    """City coordinators (one websocket and token each, as in production) sending status
    updates (a note change) in turn, ``rate`` per second in all."""

    def __init__(self, sockets: dict[str, ClientConnection]) -> None:
        self.sockets = sockets
        self.cities = list(sockets)
        self.sent = 0
        self.acked = 0
        self.errors: dict[str, int] = {}
        self.answered = asyncio.Event()
        self.readers = [asyncio.create_task(self._read(ws)) for ws in sockets.values()]

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "ack":
                    self.acked += 1
                elif message.get("type") == "error":
                    code = str(message.get("code"))
                    self.errors[code] = self.errors.get(code, 0) + 1
                self.answered.set()

    async def send_one(self) -> None:
        self.sent += 1
        city = self.cities[self.sent % len(self.cities)]
        note = f"bench status update {self.sent}: " + "la lecture commence bientôt. " * 9
        await self.sockets[city].send(
            json.dumps(
                {"type": "status", "id": f"s-{self.sent}", "city": city,
                 "state": "scheduled", "note": note[:280]}
            )
        )  # fmt: skip

    async def settle(self, limit_s: float = 30.0) -> None:
        """Wait until every update sent has its answer (or ``limit_s`` passed)."""
        deadline = monotonic() + limit_s
        while self.acked + sum(self.errors.values()) < self.sent:
            self.answered.clear()
            remaining = deadline - monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answered.wait(), remaining)

    async def flow(self, rate: float, until: float) -> None:
        start = monotonic()
        k = 0
        while True:
            when = start + k / rate
            if when >= until:
                return
            await asyncio.sleep(max(0.0, when - monotonic()))
            await self.send_one()
            k += 1

    async def close(self) -> None:
        for ws in self.sockets.values():
            with contextlib.suppress(Exception):
                await ws.close()


def reference_cue_text(seq: int, index: int, script: scripts.Script) -> str:
    """The cue event for the reference to broadcast: the one our server sent for this index in
    the last run of ours (seen by a probe viewer), with this seq; else built by the same code."""
    seen = OUR_CUE_EVENTS.get(index)
    if seen is not None:
        return protocol.encode({**seen, "seq": seq, "at": iso_utc(datetime.now(UTC))})
    state = cue_state.CueState(index=index, count=len(script.cues))
    message = {
        "type": "event",
        "seq": seq,
        "kind": "cue",
        "city": CITY,
        "at": iso_utc(datetime.now(UTC)),
        **cue_state.cue_view(script, state, with_next=False),
    }
    return protocol.encode(message)


# Our server's audience cue events by index, from the last run of ours.
OUR_CUE_EVENTS: dict[int, dict[str, Any]] = {}


async def probe(ws: ClientConnection) -> None:
    """A public viewer beside the load clients, keeping our cue events for the reference."""
    with contextlib.suppress(Exception):
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "event" and message.get("kind") == "cue":
                OUR_CUE_EVENTS[int(message["index"])] = message


async def run_once(spec: Spec, workdir: Path) -> Run:
    run = Run(spec)
    os.sched_setaffinity(0, {1} if spec.pin and can_pin() else all_cpus())
    if spec.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
    server = Server(spec, workdir)
    server.start()
    clients: LoadClients | None = None
    profiler: subprocess.Popen[bytes] | None = None
    ws_url = f"ws://127.0.0.1:{server.port}/ws"
    script = scripts.load_script(SCRIPT)
    try:
        operator = await connect(ws_url, compression=None, open_timeout=10, max_size=None)
        status: StatusFlow | None = None
        index = 0
        if spec.server == "ours":
            await operator.send(
                json.dumps({"type": "hello", "token": server.operator_token,
                            "channels": [f"cues:{CITY}"]})
            )  # fmt: skip
            snap = await recv_until(operator, lambda m: m["type"] == "snapshot")
            index = int(snap["cues"][CITY]["index"])
            viewer = await connect(ws_url, compression=None, open_timeout=10, max_size=None)
            await viewer.send(json.dumps({"type": "hello", "channels": [f"cues:{CITY}"]}))
            probing = asyncio.create_task(probe(viewer))
            if spec.status_rate > 0:
                sockets = {}
                for city, token in server.coordinator_tokens.items():
                    ws = await connect(ws_url, compression=None, open_timeout=10, max_size=None)
                    await ws.send(
                        json.dumps({"type": "hello", "token": token, "channels": ["cues:berlin"]})
                    )
                    await recv_until(ws, lambda m: m["type"] == "snapshot")
                    sockets[city] = ws
                status = StatusFlow(sockets)
        else:
            await operator.send(json.dumps({"type": "control"}))
        await asyncio.sleep(0.5)
        rss_before = rss_kb(server.pids)

        clients = LoadClients(spec, server.port, workdir)
        await clients.start()
        connected = sum(r["connected"] for r in clients.ready)
        failed = sum(r["failed"] for r in clients.ready)
        run.numbers.update(
            connected=connected, connect_failed=failed,
            connect_seconds=max(r["seconds"] for r in clients.ready),
        )  # fmt: skip
        await asyncio.sleep(1.0)
        rss_connected = rss_kb(server.pids)
        cpu_idle_start, t_idle_start = cpu_seconds(server.pids), monotonic()
        await asyncio.sleep(spec.idle_seconds)
        cpu_idle_end, t_idle_end = cpu_seconds(server.pids), monotonic()
        idle_rate = (cpu_idle_end - cpu_idle_start) / (t_idle_end - t_idle_start)

        phase = spec.gos * spec.interval
        if spec.profile_dir is not None and spec.server == "ours":
            profiler = start_profiler(server.pids, phase, spec, workdir)
        client_cpu_start = cpu_seconds(clients.pids)
        own_start = cpu_seconds([os.getpid()])
        machine_start = machine_busy_seconds()
        cpu_start, t_start = cpu_seconds(server.pids), monotonic()
        stalled_at = time.time()
        if spec.stalled:
            await clients.tell("stall")
        flow = None
        if status is not None and spec.status_rate > 0:
            flow = asyncio.create_task(status.flow(spec.status_rate, t_start + phase))
        for g in range(spec.gos):
            await asyncio.sleep(max(0.0, t_start + g * spec.interval - monotonic()))
            if spec.server == "ours":
                cmd_id = f"go-{g + 1}-{secrets.token_hex(3)}"
                if index < len(script.cues):
                    command = {"type": "cue", "id": cmd_id, "city": CITY, "action": "next",
                               "from": index}  # fmt: skip
                    new_index = index + 1
                else:
                    command = {"type": "cue", "id": cmd_id, "city": CITY, "action": "goto",
                               "index": 1, "from": index}  # fmt: skip
                    new_index = 1
                text = json.dumps(command)
                pressed = monotonic()
                await operator.send(text)
                reply = await recv_until(
                    operator,
                    lambda m, i=cmd_id: m["type"] in ("ack", "error") and m.get("id") == i,
                )
                answered = monotonic()
                if reply["type"] != "ack":
                    raise RuntimeError(f"GO refused: {reply}")
                index = new_index
                run.goes.append(
                    {"seq": reply["seq"], "pressed": pressed, "answered": answered,
                     "server_ms": None}
                )  # fmt: skip
            else:
                seq = g + 1
                index = index + 1 if index < len(script.cues) else 1
                text = json.dumps(
                    {
                        "type": "go",
                        "seq": seq,
                        "text": reference_cue_text(seq, index, script),
                    }
                )
                pressed = monotonic()
                await operator.send(text)
                reply = await recv_until(operator, lambda m: m["type"] == "done")
                answered = monotonic()
                run.goes.append(
                    {"seq": seq, "pressed": pressed, "answered": answered,
                     "server_ms": reply["broadcast_ms"], "recipients": reply["recipients"]}
                )  # fmt: skip
        if flow is not None:
            await flow
        await asyncio.sleep(1.0)  # the last GO's deliveries
        cpu_end, t_end = cpu_seconds(server.pids), monotonic()
        client_cpu = cpu_seconds(clients.pids) - client_cpu_start
        own_cpu = cpu_seconds([os.getpid()]) - own_start
        machine = machine_busy_seconds() - machine_start
        foreign = machine - (cpu_end - cpu_start) - client_cpu - own_cpu
        run.numbers["foreign_cpu_share"] = max(0.0, foreign / (t_end - t_start) / len(all_cpus()))
        run.numbers["loadavg"] = f"{os.getloadavg()[0]:.1f}"
        rss_after = rss_kb(server.pids)
        if status is not None:
            await status.settle()
            run.numbers.update(
                status_sent=status.sent, status_acked=status.acked, status_errors=status.errors
            )
            await status.close()
        if profiler is not None:
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()
        received = await clients.stop()
        clients = None
        run.numbers.update(
            rss_before_kb=rss_before, rss_connected_kb=rss_connected, rss_after_kb=rss_after,
            idle_cpu_rate=idle_rate, cpu_phase_s=cpu_end - cpu_start,
            phase_s=t_end - t_start, client_cpu_s=client_cpu,
        )  # fmt: skip
        summarise(run, received)
        if spec.server == "ours":
            log = server.log()
            run.numbers["too_slow_closes"] = log.count("event=ws_too_slow")
            run.numbers["server_errors"] = len(re.findall(r" ERROR |Traceback", log))
            if spec.stalled:
                run.numbers["stalled_fate"] = stalled_fate(log, stalled_at)
            if spec.gc_watch:
                passes = [
                    (float(t), int(gen), float(ms))
                    for t, gen, ms in re.findall(r"bench-gc t=([\d.]+) gen=(\d) ms=([\d.]+)", log)
                    if t_start <= float(t) <= t_end
                ]
                full = [ms for _, gen, ms in passes if gen == 2]
                run.numbers["gc_full_passes"] = len(full)
                run.numbers["gc_full_ms_max"] = max(full, default=0.0)
                run.numbers["gc_full_ms_total"] = sum(full)
                run.numbers["gc_passes_over_5ms"] = len([p for p in passes if p[2] >= 5])
        with contextlib.suppress(Exception):
            await operator.close()
        if spec.server == "ours":
            with contextlib.suppress(Exception):
                await viewer.close()
                await probing
    finally:
        if clients is not None:
            clients.kill()
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        server.stop()
    return run


def start_profiler(
    pids: list[int], seconds: float, spec: Spec, workdir: Path
) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("  (no py-spy: the profile is skipped; pip install py-spy)", flush=True)
        return None
    assert spec.profile_dir is not None
    spec.profile_dir.mkdir(parents=True, exist_ok=True)
    out = spec.profile_dir / f"{spec.label}.txt"
    target = pids[-1] if spec.workers > 1 else pids[0]
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(target), "--duration", str(math.ceil(seconds)),
         "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=(workdir / "py-spy.log").open("wb"),
    )  # fmt: skip


def stalled_fate(log: str, stalled_at: float) -> str:
    """What the server log says of the stalled viewer: the last websocket it opened."""
    opened = [int(n) for n in re.findall(r"event=ws_open conn=(\d+)", log)]
    if not opened:
        return "not found in the server log"
    conn = max(opened)
    too_slow = re.search(rf"^(\S+ \S+) .*event=ws_too_slow conn={conn} ", log, re.M)
    closed = re.search(rf"^(\S+ \S+) .*event=ws_close conn={conn} .*code=(\d+)", log, re.M)

    def after(stamp: str) -> float:
        moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone()
        return moment.timestamp() - stalled_at

    if too_slow:
        return f"closed as too slow (outbox full) {after(too_slow.group(1)):.1f} s after it stopped reading"
    if closed:
        return (
            f"dropped {after(closed.group(1)):.1f} s after it stopped reading "
            f"(no pong: keepalive timeout; app saw code {closed.group(2)})"
        )
    return "still connected when the GOs ended"


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(run: Run, received: dict[str, Any]) -> None:
    spec = run.spec
    n = spec.viewers
    arrivals: dict[int, list[float]] = received["arrivals"]
    delivered = sum(len(arrivals.get(go["seq"], [])) for go in run.goes)
    measured = run.goes[1:] if len(run.goes) > 1 else run.goes
    pooled: list[float] = []
    per_go_p99: list[float] = []
    spreads: list[float] = []
    for go in run.goes:
        times = arrivals.get(go["seq"], [])
        go["delivered"] = len(times)
        if times:
            delays = sorted((t - go["pressed"]) * 1000 for t in times)
            go.update(
                first_ms=delays[0], p50_ms=percentile(delays, 50),
                p99_ms=percentile(delays, 99), last_ms=delays[-1],
            )  # fmt: skip
    for go in measured:
        times = arrivals.get(go["seq"], [])
        if not times:
            continue
        delays = sorted((t - go["pressed"]) * 1000 for t in times)
        pooled.extend(delays)
        per_go_p99.append(percentile(delays, 99))
        spreads.append((max(times) - min(times)) * 1000)
    pooled.sort()
    numbers = run.numbers
    numbers.update(
        delivered=delivered,
        expected=n * len(run.goes),
        p50_ms=percentile(pooled, 50),
        p99_ms=percentile(pooled, 99),
        max_ms=pooled[-1] if pooled else math.nan,
        go_p99_median_ms=statistics.median(per_go_p99) if per_go_p99 else math.nan,
        go_p99_worst_ms=max(per_go_p99) if per_go_p99 else math.nan,
        spread_ms=statistics.median(spreads) if spreads else math.nan,
        answer_ms=statistics.median((g["answered"] - g["pressed"]) * 1000 for g in measured),
        other_messages=received["other_messages"],
        closed=received["closed"],
        duplicates=received["duplicates"],
        decode_errors=received["decode_errors"],
        client_errors=received["errors"],
        stalled=received["stalled"],
        cue_bytes=statistics.median(
            int(size) for size, k in received["cue_bytes"].items() for _ in range(min(k, 50))
        )
        if received["cue_bytes"]
        else None,
    )
    server_ms = [g["server_ms"] for g in measured if g.get("server_ms") is not None]
    numbers["broadcast_ms"] = statistics.median(server_ms) if server_ms else None
    go_cpu = numbers["cpu_phase_s"] - numbers["idle_cpu_rate"] * numbers["phase_s"]
    numbers["cpu_per_go_ms"] = go_cpu / len(run.goes) * 1000
    numbers["cpu_us_per_recipient"] = go_cpu / (len(run.goes) * n) * 1e6
    numbers["kb_per_viewer"] = (numbers["rss_connected_kb"] - numbers["rss_before_kb"]) / n
    numbers["client_us_per_message"] = numbers["client_cpu_s"] / max(1, delivered) * 1e6


# -- output -----------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


HEADER = (
    "run", "N", "delivered", "p50 ms", "p99 ms", "max ms", "typical GO p99",
    "fan-out ms", "GO→ack ms", "CPU ms/GO", "CPU µs/recip", "KB/viewer",
)  # fmt: skip


def row(run: Run) -> list[str]:
    x = run.numbers
    return [
        run.spec.label, str(run.spec.viewers), f"{x['delivered']}/{x['expected']}",
        fmt(x["p50_ms"]), fmt(x["p99_ms"]), fmt(x["max_ms"]), fmt(x["go_p99_median_ms"]),
        fmt(x["spread_ms"]), fmt(x["answer_ms"]), fmt(x["cpu_per_go_ms"]),
        fmt(x["cpu_us_per_recipient"]), fmt(x["kb_per_viewer"]),
    ]  # fmt: skip


def print_table(rows: list[list[str]]) -> None:
    table = [list(HEADER), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    for r in table:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    sys.stdout.flush()


def ratio_row(ours: Run, ref: Run) -> list[str]:
    a, b = ours.numbers, ref.numbers

    def r(key: str) -> str:
        if not b[key] or math.isnan(b[key]) or math.isnan(a[key]):
            return "-"
        return f"{a[key] / b[key]:.2f}×"

    return [
        "ours/reference", str(ours.spec.viewers), "", r("p50_ms"), r("p99_ms"), r("max_ms"),
        r("go_p99_median_ms"), r("spread_ms"), "", r("cpu_per_go_ms"), r("cpu_us_per_recipient"),
        r("kb_per_viewer"),
    ]  # fmt: skip


def describe(run: Run) -> str:
    x = run.numbers
    parts = [
        f"connected {x['connected']} in {x['connect_seconds']:.1f} s",
        f"RSS {x['rss_before_kb'] / 1024:.0f} → {x['rss_connected_kb'] / 1024:.0f} → "
        f"{x['rss_after_kb'] / 1024:.0f} MB",
        f"idle CPU {x['idle_cpu_rate'] * 100:.1f} %",
        f"client {x['client_us_per_message']:.1f} µs/message",
        f"other processes {x['foreign_cpu_share'] * 100:.0f} % of the machine "
        f"(load {x['loadavg']})",
        f"cue frames {fmt(x['cue_bytes'], 0)} bytes",
    ]
    if x.get("broadcast_ms") is not None:
        parts.append(f"broadcast() {x['broadcast_ms']:.1f} ms")
    if x.get("status_sent"):
        parts.append(f"status updates {x['status_acked']}/{x['status_sent']} acked")
        if x["status_errors"]:
            parts.append(f"status errors {x['status_errors']}")
    if x.get("too_slow_closes"):
        parts.append(f"closed as too slow: {x['too_slow_closes']}")
    if x.get("server_errors"):
        parts.append(f"SERVER ERRORS IN LOG: {x['server_errors']}")
    if x["connect_failed"]:
        parts.append(f"FAILED TO CONNECT: {x['connect_failed']}")
    if x["closed"]:
        parts.append(f"viewers closed: {x['closed']}")
    if x["other_messages"]:
        parts.append(f"other messages: {x['other_messages']}")
    if "gc_full_passes" in x:
        parts.append(
            f"during the GOs: {x['gc_full_passes']} full GC passes, longest "
            f"{x['gc_full_ms_max']:.0f} ms, {x['gc_full_ms_total']:.0f} ms in all"
        )
    if x.get("stalled_fate"):
        parts.append(f"stalled viewer {x['stalled_fate']}")
    for s in x["stalled"]:
        seqs = s["cue_seqs"]
        parts.append(
            f"stalled viewer: read {s['frames']} frames after resuming "
            f"({len(seqs)} cues, up to seq {max(seqs) if seqs else '-'}), "
            f"close code {s['close_code']}{' (connection lost)' if s['lost'] else ''}"
        )
    return "; ".join(parts)


# -- wrk ----------------------------------------------------------------------------------------


def run_wrk(workdir: Path, seconds: int, connections: int, realtime: bool) -> list[dict[str, Any]]:
    wrk = shutil.which("wrk")
    if wrk is None:
        print("\nwrk: not installed, skipped (Debian: apt-get install wrk)", flush=True)
        return []
    pin = can_pin()
    os.sched_setaffinity(0, {1} if pin else all_cpus())
    spec = Spec("wrk", "ours", 0, 0, 1.0, 0.0, pin=pin, realtime=realtime)
    server = Server(spec, workdir)
    server.start()
    results = []
    try:
        for path in ("/api/state", "/calendar.ics"):
            url = f"http://127.0.0.1:{server.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as resp:
                etag = resp.headers["ETag"]
            request = urllib.request.Request(url, headers={"If-None-Match": etag})
            try:
                urllib.request.urlopen(request, timeout=5)
                not_modified = 200
            except urllib.error.HTTPError as err:
                not_modified = err.code
            for label, headers in (("200", []), ("304", ["-H", f"If-None-Match: {etag}"])):
                if label == "304" and not_modified != 304:
                    results.append({"path": path, "answer": label, "error": f"got {not_modified}"})
                    continue
                out = subprocess.run(
                    [*priority_prefix(spec), wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *headers, url],
                    capture_output=True, text=True, timeout=seconds + 60, check=False,
                )  # fmt: skip
                text = out.stdout
                rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
                p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
                bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
                results.append(
                    {"path": path, "answer": label,
                     "rps": float(rps.group(1)) if rps else None,
                     "p99": f"{p99.group(1)} {p99.group(2)}" if p99 else None,
                     "errors": int(bad.group(1)) if bad else 0,
                     "cpu_note": "server pinned to CPU 0, wrk to CPU 1" if pin else ""}
                )  # fmt: skip
    finally:
        server.stop()
    print(f"\nwrk -t1 -c{connections} -d{seconds}s (server on CPU 0, wrk on CPU 1)")
    for r in results:
        if "error" in r:
            print(f"  {r['path']:<14} {r['answer']}: not measured ({r['error']})")
        else:
            print(
                f"  {r['path']:<14} {r['answer']}: {r['rps']:>9.0f} requests/s  "
                f"p99 {r['p99']}  non-2xx/3xx {r['errors']}"
            )
    return results


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
        + " With no option: ours and the reference at 1,000, 5,000 and 10,000 viewers, "
        "20 GOs each, and the table.",
        epilog="docs/performance.md has the method, the figures and the commands.",
    )
    parser.add_argument(
        "--viewers", default="1000,5000,10000", help="viewer counts (default 1000,5000,10000)"
    )
    parser.add_argument("--gos", type=int, default=20, help="GOs per run (default 20)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between GOs")
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0,
        help="idle window before the GOs, for the idle CPU rate (one keepalive ping period)",
    )  # fmt: skip
    parser.add_argument("--short", action="store_true", help="CI form: 200 viewers, 3 GOs")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference server")
    parser.add_argument(
        "--stalled", action="store_true",
        help="also run, at the largest N, with status updates flowing and one viewer that "
        "stops reading when the GOs start (it follows status:* too, so its buffers fill)",
    )  # fmt: skip
    parser.add_argument(
        "--with-status", action="store_true",
        help="also run with status updates flowing during the GOs (at the largest N)",
    )  # fmt: skip
    parser.add_argument(
        "--status-rate", type=float, default=12.0,
        help="status updates per second, from six city coordinators in turn (default 12)",
    )  # fmt: skip
    parser.add_argument(
        "--redis", action="store_true",
        help="also run our server on Redis with --workers processes (unpinned)",
    )  # fmt: skip
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--redis-viewers", default="10000,20000", help="viewer counts of the Redis runs"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="server processes with --redis (default 2)"
    )
    parser.add_argument("--wrk", action="store_true", help="also measure HTTP caching with wrk")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--wrk-connections", type=int, default=64)
    parser.add_argument(
        "--all", action="store_true", help="everything: --stalled --with-status --redis --wrk"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR",
        help="record our server with py-spy during the GOs of the largest N (raw stacks)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run the table (and --stalled/--with-status) this many times, alternating ours and "
        "the reference; the summary shows the medians",
    )  # fmt: skip
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    parser.add_argument(
        "--gc-watch", action="store_true",
        help="log the duration of the garbage collector's full passes in our server (diagnosis)",
    )  # fmt: skip
    parser.add_argument(
        "--gc-freeze", type=float, default=0.0, metavar="S",
        help="experiment (implies --gc-watch): our server also calls gc.freeze() every S s",
    )  # fmt: skip
    parser.add_argument(
        "--realtime", action="store_true",
        help="run servers, clients, wrk and this script at real-time round-robin priority "
        "(chrt -r 10; needs root or CAP_SYS_NICE): on a machine shared with other work",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every number here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return parser


def plan(args: argparse.Namespace) -> list[Spec]:
    if args.all:
        args.stalled = args.with_status = args.redis = args.wrk = True
    if args.short:
        args.viewers = "200"
        args.gos = min(args.gos, 3)
        args.interval = min(args.interval, 0.5)
        args.idle_seconds = min(args.idle_seconds, 1.0)
        args.no_reference = True
        args.redis_viewers = "200"
    ns = [int(n) for n in str(args.viewers).split(",") if n]
    pin = not args.no_pin and can_pin()
    base = Spec(
        "", "ours", 0, args.gos, args.interval, args.idle_seconds, pin=pin,
        realtime=args.realtime, gc_watch=args.gc_watch or args.gc_freeze > 0,
        gc_freeze=args.gc_freeze,
    )  # fmt: skip
    specs: list[Spec] = []
    top = max(ns)
    for r in range(args.repeat):
        # Ours and the reference alternate, so that a burst of load elsewhere on the machine
        # hits both alike; --repeat alternates again and the summary takes the medians.
        for n in ns:
            profile = args.profile if n == top and r == 0 else None
            specs.append(replace(base, label="ours", viewers=n, profile_dir=profile))
            if not args.no_reference:
                specs.append(replace(base, label="reference", server="reference", viewers=n))
        if args.with_status:
            specs.append(
                replace(base, label="ours+status", viewers=top, status_rate=args.status_rate)
            )
        if args.stalled:
            specs.append(
                replace(base, label="ours+status+stalled", viewers=top, stalled=1,
                        status_rate=args.status_rate)
            )  # fmt: skip
    if args.redis:
        for n in [int(v) for v in str(args.redis_viewers).split(",") if v]:
            specs.append(
                replace(base, label=f"redis×{args.workers}", viewers=n, workers=args.workers,
                        redis_url=args.redis_url, clients=2, pin=False)
            )  # fmt: skip
    return specs


def redis_reachable(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
        return True
    except redis.RedisError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    specs = plan(args)
    with contextlib.suppress(ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if any(s.redis_url for s in specs) and not redis_reachable(args.redis_url):
        print(f"Redis runs skipped: no Redis at {args.redis_url}", flush=True)
        specs = [s for s in specs if not s.redis_url]
    workdir = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    pinned = "server on CPU 0, clients on CPU 1" if specs and specs[0].pin else "not pinned"
    print(
        f"fan-out benchmark: {args.gos} GOs {args.interval:g} s apart; {pinned}; "
        f"delays exclude the first GO; work dir {workdir}",
        flush=True,
    )
    runs: list[Run] = []
    failures = 0
    try:
        for spec in specs:
            print(f"\n== {spec.label}, {spec.viewers} viewers ...", flush=True)
            run = asyncio.run(run_once(spec, workdir))
            runs.append(run)
            x = run.numbers
            ok = x["delivered"] == x["expected"] and x["connected"] == spec.viewers
            failures += not ok
            print_table([row(run)])
            print("  " + describe(run), flush=True)
            if not ok:
                print("  NOT EVERY CUE WAS DELIVERED TO EVERY VIEWER", flush=True)
        wrk_results = (
            run_wrk(workdir, args.wrk_seconds, args.wrk_connections, args.realtime)
            if args.wrk
            else []
        )
    finally:
        os.sched_setaffinity(0, all_cpus())
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        "\nsummary (delays from the press on the operator's client to the arrival on each viewer"
        + (f"; medians of {args.repeat} runs" if args.repeat > 1 else "")
        + ")"
    )
    rows: list[list[str]] = []
    combined = combine(runs)
    by_n = {run.spec.viewers: run for run in combined if run.spec.label == "reference"}
    for run in combined:
        if run.spec.label == "reference":
            continue
        rows.append(row(run))
        ref = by_n.get(run.spec.viewers)
        if run.spec.label == "ours" and ref is not None:
            rows.append(row(ref))
            rows.append(ratio_row(run, ref))
    print_table(rows)
    if args.profile:
        for path in sorted(args.profile.glob("*.txt")):
            print(f"\npy-spy, {path}: functions by own samples")
            for line in top_functions(path, 15):
                print("  " + line)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"runs": [{"spec": {k: str(v) if isinstance(v, Path) else v
                                    for k, v in run.spec.__dict__.items()},
                           "numbers": run.numbers, "goes": run.goes} for run in runs],
                 "wrk": wrk_results},
                indent=1, default=str,
            )
        )  # fmt: skip
    if failures:
        print(f"\n{failures} run(s) did not deliver every cue to every viewer", flush=True)
        return 1
    return 0


def combine(runs: list[Run]) -> list[Run]:
    """One run per (label, N): the median of each number over repeats; deliveries added up."""
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.spec.label, run.spec.viewers), []).append(run)
    combined = []
    for same in groups.values():
        if len(same) == 1:
            combined.append(same[0])
            continue
        numbers: dict[str, Any] = dict(same[0].numbers)
        for key, value in same[0].numbers.items():
            values = [r.numbers.get(key) for r in same]
            if key in ("delivered", "expected"):
                numbers[key] = sum(v for v in values if isinstance(v, int))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                numbers[key] = statistics.median(v for v in values if isinstance(v, int | float))
        combined.append(Run(same[0].spec, same[0].goes, numbers))
    return combined


def top_functions(path: Path, count: int) -> list[str]:
    """The leaf frames of py-spy's raw (collapsed) stacks, by share of samples."""
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        leaf = stack.split(";")[-1]
        own[leaf] = own.get(leaf, 0) + int(n)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [f"{n / total * 100:5.1f} %  {name}" for name, n in ranked]


if __name__ == "__main__":
    raise SystemExit(main())
