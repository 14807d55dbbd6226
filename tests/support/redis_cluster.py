"""Real Redis topologies for the failover tests: a primary, its replicas and three sentinels,
each a ``redis-server`` process of its own on a free port, in a process group of its own (so
``kill -9`` takes the whole of it), optionally over TLS with a certificate that openssl makes
for the test. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.harness import free_port, skip_or_fail, which

SERVICE = "show"


@dataclass(frozen=True)
class Tls:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, directory: Path) -> Tls:
        if which("openssl") is None:
            skip_or_fail("openssl is not installed")
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_key = directory / "ca.pem", directory / "ca.key"
        cert, key, csr = directory / "server.pem", directory / "server.key", directory / "s.csr"
        ext = directory / "san.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="ascii")
        for args in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test redis CA", "-keyout", ca_key, "-out", ca],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", key, "-out", csr],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-extfile", ext, "-out", cert],
        ):  # fmt: skip
            subprocess.run(
                ["openssl", *map(str, args)], check=True, capture_output=True, timeout=60
            )
        return cls(ca=ca, cert=cert, key=key)

    def server_args(self, port: int) -> list[str]:
        """redis-server options: TLS only on ``port``, replication and sentinel links too."""
        return [
            "--port", "0", "--tls-port", str(port),
            "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
            "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no",
            "--tls-replication", "yes",
        ]  # fmt: skip

    def client_kwargs(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": str(self.ca)}


class _Process:
    """One redis-server (data or sentinel) in its own process group."""

    def __init__(self, directory: Path, tls: Tls | None, port: int | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Process:
        binary = which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed")
            raise AssertionError("unreachable")
        self.proc = subprocess.Popen(
            [binary, *self.args()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError), self.client() as client:
                if client.ping():
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port}: {self.log()[-2000:]}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9`` of its whole process group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        tls = self.tls.client_kwargs() if self.tls else {}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            **tls,
        )

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


class RedisNode(_Process):
    """A data server: AOF on every write, full syncs without delay, optionally a replica."""

    def __init__(
        self,
        directory: Path,
        *,
        replica_of: int | None = None,
        tls: Tls | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(directory, tls, port)
        self.replica_of = replica_of

    def args(self) -> list[str]:
        listen = self.tls.server_args(self.port) if self.tls else ["--port", str(self.port)]
        args = [
            *listen,
            "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
            "--appendonly", "yes", "--appendfsync", "always",
            "--repl-diskless-sync-delay", "0", "--logfile", str(self.dir / "redis.log"),
            "--enable-debug-command", "local",
        ]  # fmt: skip
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        return args

    def role(self) -> dict[str, Any]:
        with self.client() as client:
            info: dict[str, Any] = client.info("replication")
            return info


class SentinelNode(_Process):
    """A sentinel watching ``SERVICE``: down after 1 s without an answer, quorum 2."""

    def __init__(
        self,
        directory: Path,
        primary_port: int,
        *,
        tls: Tls | None = None,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 4000,
    ) -> None:
        super().__init__(directory, tls)
        self.primary_port = primary_port
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def args(self) -> list[str]:
        conf = self.dir / "sentinel.conf"  # sentinels rewrite their file: one each
        lines = [
            "bind 127.0.0.1",
            f"dir {self.dir}",
            f"logfile {self.dir / 'redis.log'}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2",
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}",
            f"sentinel failover-timeout {SERVICE} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {SERVICE} 1",
        ]
        if self.tls:
            tls = self.tls.server_args(self.port)
            lines += [f"{tls[i].lstrip('-')} {tls[i + 1]}" for i in range(0, len(tls), 2)]
        else:
            lines.append(f"port {self.port}")
        if not conf.exists():
            conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [str(conf), "--sentinel"]

    def master(self) -> dict[str, Any]:
        with self.client() as client:
            found: dict[str, Any] = client.execute_command("SENTINEL", "MASTER", SERVICE)
            return found


class ReplicationLink:
    """A TCP relay between the first replica and the primary, which a test can ``hold``
    (nothing passes: the replica falls behind while its link still looks up) and ``cut``
    (what it held is dropped, and no new connection passes)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._done = threading.Event()
        self._sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True, name="repl-link").start()

    def hold(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        self._done.set()
        self._flowing.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                downstream, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                if self._done.is_set():
                    return
                continue
            upstream.settimeout(None)
            self._sockets += [downstream, upstream]
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                while not self._flowing.wait(0.05):
                    pass
                if self._done.is_set():
                    return  # held bytes are dropped, as a dead primary's would be
                dst.sendall(data)


class SentinelGroup:
    """A primary, ``replicas`` replicas and three sentinels; with ``relay``, the first replica
    reaches the primary through a :class:`ReplicationLink` (``self.link``)."""

    def __init__(
        self,
        directory: Path,
        *,
        replicas: int = 1,
        tls: Tls | None = None,
        relay: bool = False,
        failover_timeout_ms: int = 4000,
    ) -> None:
        self.dir = directory
        self.tls = tls
        self.nodes = [RedisNode(directory / "node0", tls=tls)]
        self.link = ReplicationLink(self.nodes[0].port) if relay else None
        self.nodes += [
            RedisNode(
                directory / f"node{n}",
                replica_of=self.link.port if self.link and n == 1 else self.nodes[0].port,
                tls=tls,
            )
            for n in range(1, replicas + 1)
        ]
        self.sentinels = [
            SentinelNode(
                directory / f"sentinel{n}",
                self.nodes[0].port,
                tls=tls,
                failover_timeout_ms=failover_timeout_ms,
            )
            for n in range(3)
        ]

    @property
    def url(self) -> str:
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"{scheme}://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelGroup:
        for node in self.nodes:
            node.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_settled(self.nodes[0], len(self.nodes) - 1)
        return self

    def stop(self) -> None:
        for process in [*self.sentinels, *self.nodes]:
            process.kill()
        if self.link is not None:
            self.link.cut()

    def node_on(self, port: int) -> RedisNode:
        return next(n for n in self.nodes if n.port == port)

    def primary(self) -> RedisNode:
        """The primary every live sentinel names (fails while they disagree)."""
        ports = {int(s.master()["port"]) for s in self.sentinels if s.alive}
        assert len(ports) == 1, f"the sentinels disagree: {ports}"
        return self.node_on(ports.pop())

    def wait_settled(self, primary: RedisNode, replicas: int, timeout_s: float = 30.0) -> None:
        """Until every sentinel names ``primary``, sees the two other sentinels, and
        ``replicas`` replicas are in sync with it."""
        deadline = time.monotonic() + timeout_s
        problem = ""
        while time.monotonic() < deadline:
            problem = self._unsettled(primary, replicas)
            if not problem:
                return
            time.sleep(0.1)
        raise AssertionError(f"the Redis group did not settle in {timeout_s}s: {problem}")

    def _unsettled(self, primary: RedisNode, replicas: int) -> str:
        try:
            for sentinel in self.sentinels:
                state = sentinel.master()
                if int(state["port"]) != primary.port or "s_down" in state["flags"]:
                    return f"sentinel {sentinel.port} says {state['port']} {state['flags']}"
                if int(state["num-other-sentinels"]) < 2:
                    return f"sentinel {sentinel.port} sees {state['num-other-sentinels']} others"
            info = primary.role()
            online = [
                v for k, v in info.items() if k.startswith("slave") and v["state"] == "online"
            ]
            if info["role"] != "master" or len(online) < replicas:
                return f"primary {primary.port}: {info['role']}, {len(online)} replicas online"
        except (redis.RedisError, OSError) as exc:
            return str(exc)
        return ""

    def wait_failover(self, old: RedisNode, timeout_s: float = 30.0) -> RedisNode:
        """Until the sentinels agree on a new primary that says it is one; returns it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError, redis.RedisError, OSError):
                new = self.primary()
                if new is not old and new.role()["role"] == "master":
                    return new
            time.sleep(0.05)
        raise AssertionError(f"no failover from {old.port} within {timeout_s}s")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.dir.name}\n{p.log()[-3000:]}" for p in [*self.nodes, *self.sentinels]
        )
