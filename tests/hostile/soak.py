"""Hostile test 15 (docs/security.md): thousands of viewers on loopback for minutes while
coordinators and an operator work. Every viewer checks that the events it receives are
numbered without gap, repeat or reordering; the server's memory is sampled throughout.

    python -m tests.hostile.soak --viewers 2000 --minutes 5      # the full soak
    python -m tests.hostile.soak --viewers 200 --seconds 20      # what CI runs (test_hardening_soak.py)

It starts its own server (``coordinator serve``, production flags, a private data directory,
the per-address cap raised because every client here shares 127.0.0.1), prints a JSON report
and exits non-zero if any event was lost or the memory grew past the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from coordinator.auth import add_token
from coordinator.rules import Role
from tests.hostile.tools import rss_kib
from tests.support.harness import ServerProcess, copy_shipped_config
from tests.support.messages import p99

COORDINATOR_CITIES = ["paris", "berlin", "toronto", "winnipeg", "chennai", "helsinki"]
# Growth allowed once every viewer is connected (caches, allocator slack): a leak of even
# 1 KiB per event per viewer would pass it within seconds.
RSS_GROWTH_BOUND_KIB = 32 * 1024


@dataclass
class Report:
    viewers: int = 0
    seconds: float = 0.0
    connections_held: int = 0  # viewers connected at the end
    peak_connections: int = 0
    events_published: int = 0  # events the server made during the run
    events_delivered: int = 0  # event frames the viewers received, in total
    events_lost: int = 0  # events some viewer never received
    out_of_order: int = 0  # repeats or reorderings seen by viewers
    reconnects: int = 0
    commands_acked: int = 0
    commands_refused: int = 0
    rss_start_kib: int = 0  # before any viewer
    rss_connected_kib: int = 0  # all viewers connected
    rss_peak_kib: int = 0
    rss_end_kib: int = 0
    rss_growth_kib: int = 0  # end minus connected
    kib_per_viewer: float = 0.0
    # Seen by the soak's own 2,000 clients, which share one Python process and one core: this
    # mostly measures how far behind that process falls.
    p99_latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    # Seen by one viewer in a process of its own (the server's real fan-out delay, plus noise).
    probe_p99_latency_ms: float = 0.0
    probe_max_latency_ms: float = 0.0
    probe_events: int = 0
    # A command's round trip (sent to acknowledged: stored on disk and fanned out), and how
    # long after the ack the probe had the event (negative: before the ack).
    command_p99_ms: float = 0.0
    probe_after_ack_p99_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.events_lost == 0
            and self.out_of_order == 0
            and self.rss_growth_kib <= RSS_GROWTH_BOUND_KIB
            and self.connections_held == self.viewers
            and not self.errors
        )


class Viewer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.epoch: str | None = None
        self.start_seq = -1
        self.last = -1
        self.received: set[int] = set()
        self.delivered = 0
        self.out_of_order = 0
        self.connects = 0
        self.connected = False
        self.latencies: list[float] = []

    async def run(self, stop: asyncio.Event, sent_at: dict[int, float]) -> None:
        while not stop.is_set():
            try:
                async with connect(self.url, open_timeout=20, max_queue=None) as ws:
                    await self._session(ws, stop, sent_at)
            except Exception:
                self.connected = False
                if stop.is_set():
                    return
                await asyncio.sleep(0.2)

    async def _session(
        self, ws: ClientConnection, stop: asyncio.Event, sent_at: dict[int, float]
    ) -> None:
        hello: dict[str, Any] = {"type": "hello"}
        if self.epoch is not None and self.start_seq >= 0:  # it had a snapshot
            hello.update(since=self.last, epoch=self.epoch)
        await ws.send(json.dumps(hello))
        self.connects += 1
        # Stopped by cancelling the task: one await per message keeps 2,000 clients cheap.
        async for raw in ws:
            self._take(json.loads(raw), sent_at)

    def _take(self, message: dict[str, Any], sent_at: dict[int, float]) -> None:
        kind = message["type"]
        if kind == "welcome":
            if self.epoch not in (None, message["epoch"]):
                self.out_of_order += 1  # a new history: should not happen in a soak
            self.epoch = message["epoch"]
            self.connected = True
        elif kind == "snapshot":
            if self.start_seq < 0:
                self.start_seq = message["seq"]
            self.last = message["seq"]
        elif kind == "event":
            seq = message["seq"]
            self.delivered += 1
            if seq != self.last + 1 or seq in self.received:
                self.out_of_order += 1
            self.received.add(seq)
            self.last = max(self.last, seq)
            sent = sent_at.get(seq)
            if sent is not None:
                self.latencies.append(time.monotonic() - sent)


async def _staff(
    url: str,
    token: str,
    commands: list[dict[str, Any]],
    every_s: float,
    stop: asyncio.Event,
    report: Report,
    sent_at: dict[int, float],
    acked_at: dict[int, float],
) -> None:
    async with connect(url, open_timeout=20) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        n = 0
        while not stop.is_set():
            command = {**commands[n % len(commands)], "id": f"{token[:6]}-{n}"}
            started = time.monotonic()
            await ws.send(json.dumps(command))
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "ack" and message["id"] == command["id"]:
                    report.commands_acked += 1
                    sent_at[message["seq"]] = started
                    acked_at[message["seq"]] = time.monotonic()
                    break
                if message["type"] == "error" and message["id"] == command["id"]:
                    report.commands_refused += 1
                    report.errors.append(f"{command['id']}: {message['code']}")
                    break
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


async def soak(
    server: ServerProcess,
    staff: dict[str, str],
    *,
    viewers: int,
    seconds: float,
    connect_concurrency: int = 100,
) -> Report:
    assert server.proc is not None
    pid = server.proc.pid
    report = Report(viewers=viewers, seconds=seconds)
    report.rss_start_kib = rss_kib(pid)
    stop = asyncio.Event()  # the viewers'
    staff_stop = asyncio.Event()
    sent_at: dict[int, float] = {}
    acked_at: dict[int, float] = {}
    clients = [Viewer(server.ws_url) for _ in range(viewers)]
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(connect_concurrency)

    async def start_one(viewer: Viewer) -> None:
        async with gate:
            tasks.append(asyncio.create_task(viewer.run(stop, sent_at)))
            deadline = time.monotonic() + 30
            while viewer.last < 0 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    await asyncio.gather(*(start_one(v) for v in clients))
    probe = subprocess.Popen(  # noqa: ASYNC220 (once, before the clock starts)
        [sys.executable, "-m", "tests.hostile.soak", "--probe", server.ws_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert probe.stdout is not None
    if probe.stdout.readline().strip() != "ready":
        report.errors.append("the probe viewer did not start")
    held = sum(v.connected for v in clients)
    if held < viewers:
        report.errors.append(f"only {held} of {viewers} viewers connected")
    report.rss_connected_kib = rss_kib(pid)
    first_seq = server.get_json("/api/state")["seq"]
    status_cycle: list[dict[str, Any]] = [
        {"type": "status", "city": "", "state": "preparing", "note": "doors open"},
        {"type": "status", "city": "", "state": "delayed", "delay_minutes": 10, "note": "rain"},
        {"type": "status", "city": "", "state": "scheduled", "note": ""},
    ]
    workers = [
        asyncio.create_task(
            _staff(
                server.ws_url,
                token,
                [{**c, "city": city} for c in status_cycle],
                3.0,
                staff_stop,
                report,
                sent_at,
                acked_at,
            )
        )
        for city, token in staff.items()
        if city != "operator"
    ]
    workers.append(
        asyncio.create_task(
            _staff(
                server.ws_url,
                staff["operator"],
                [
                    {"type": "cue", "city": "paris", "action": "next"},
                    {"type": "cue", "city": "paris", "action": "prev"},
                ],
                0.5,
                staff_stop,
                report,
                sent_at,
                acked_at,
            )
        )
    )
    started = time.monotonic()
    peak = report.rss_connected_kib
    while time.monotonic() - started < seconds:
        await asyncio.sleep(min(2.0, max(0.1, seconds - (time.monotonic() - started))))
        peak = max(peak, rss_kib(pid))
        report.peak_connections = max(report.peak_connections, sum(v.connected for v in clients))
    staff_stop.set()  # the staff stop first, then the viewers catch up
    await asyncio.gather(*workers, return_exceptions=True)
    await asyncio.sleep(0.5)  # the coordinators' last presence events
    final = server.get_json("/api/state")["seq"]
    # Viewers keep reading until they have everything (or 30 s pass).
    catch_up = time.monotonic() + 30
    while time.monotonic() < catch_up and any(v.last < final for v in clients):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    report.connections_held = sum(v.connected for v in clients)
    probe.terminate()
    probe_out, _ = probe.communicate(timeout=10)
    _probe_figures(report, probe_out, sent_at, acked_at, final)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    report.rss_peak_kib = max(peak, rss_kib(pid))
    report.rss_end_kib = rss_kib(pid)
    report.rss_growth_kib = report.rss_end_kib - report.rss_connected_kib
    report.kib_per_viewer = round(
        (report.rss_connected_kib - report.rss_start_kib) / max(1, viewers), 1
    )
    report.events_published = final - first_seq
    for viewer in clients:
        expected = set(range(viewer.start_seq + 1, final + 1))
        report.events_lost += len(expected - viewer.received)
        report.out_of_order += viewer.out_of_order
        report.events_delivered += viewer.delivered
        report.reconnects += max(0, viewer.connects - 1)
    latencies = sorted(x for v in clients for x in v.latencies)
    if latencies:
        report.p99_latency_ms = _p99_ms(latencies)
        report.max_latency_ms = round(latencies[-1] * 1000, 1)
    report.errors = report.errors[:20]
    return report


def _p99_ms(values: list[float]) -> float:
    return round(p99(values) * 1000, 1)


def _probe_figures(
    report: Report,
    output: str,
    sent_at: dict[int, float],
    acked_at: dict[int, float],
    final: int,
) -> None:
    arrivals = {}
    for line in output.splitlines():
        seq, at = line.split()
        arrivals[int(seq)] = float(at)
    report.probe_events = len(arrivals)
    seqs = sorted(arrivals)
    if seqs and (seqs != list(range(seqs[0], seqs[-1] + 1)) or seqs[-1] < final):
        report.errors.append(f"the probe viewer saw a gap: {len(seqs)} events, last {seqs[-1]}")
    delays = sorted(arrivals[s] - sent_at[s] for s in seqs if s in sent_at)
    if delays:
        report.probe_p99_latency_ms = _p99_ms(delays)
        report.probe_max_latency_ms = round(delays[-1] * 1000, 1)
    report.command_p99_ms = _p99_ms([acked_at[s] - sent_at[s] for s in acked_at])
    report.probe_after_ack_p99_ms = _p99_ms(
        [arrivals[s] - acked_at[s] for s in seqs if s in acked_at]
    )


def probe(url: str) -> int:
    """One viewer in a process of its own: prints "SEQ MONOTONIC_TIME" for each event (the
    monotonic clock is the machine's, so the soak can compare it with its send times)."""
    from websockets.sync.client import connect as sync_connect

    with sync_connect(url, open_timeout=20) as ws:
        ws.send(json.dumps({"type": "hello"}))
        print("ready", flush=True)
        for raw in ws:
            message = json.loads(raw)
            if message["type"] == "event":
                print(message["seq"], time.monotonic(), flush=True)
    return 0


def start_server(workdir: Path, viewers: int) -> tuple[ServerProcess, dict[str, str]]:
    """A server of its own with tokens for six coordinators and Paris's operator."""
    config = copy_shipped_config(workdir)
    secrets = workdir / "secrets.yaml"
    staff = {city: add_token(secrets, Role.COORDINATOR, city)[0] for city in COORDINATOR_CITIES}
    staff["operator"] = add_token(secrets, Role.OPERATOR, "paris")[0]
    server = ServerProcess(
        config,
        workdir / "data",
        extra_args=[
            "--secrets", str(secrets),
            # Every soak client comes from 127.0.0.1; in the field they are thousands of
            # addresses. The global cap stays at its default.
            "--limit", f"max_connections_per_address={viewers + 100}",
            "--limit", f"max_tcp_per_address={viewers + 100}",
        ],
    )  # fmt: skip
    return server.start(), staff


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile.soak", description=__doc__)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--probe", metavar="WS_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        return probe(args.probe)
    seconds = args.seconds if args.seconds is not None else (args.minutes or 5) * 60
    files = raise_open_files()
    if files < args.viewers * 2 + 200:  # a socket each side: client and server share this box
        print(f"error: open files limit {files} is too low for {args.viewers} viewers")
        return 2
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server, staff = start_server(Path(tmp), args.viewers)
        try:
            report = asyncio.run(soak(server, staff, viewers=args.viewers, seconds=seconds))
        finally:
            server.stop()
    print(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
