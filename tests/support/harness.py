"""Helpers shared by the tests: a real server process, websocket clients, tool detection.

Tests talk to the real thing: ``ServerProcess`` runs ``python -m coordinator serve`` under uvicorn
on a free port, exactly as an organiser would, and the clients are real websocket clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = ROOT / "config" / "cities.yaml"
CHROMIUM = Path(os.environ.get("COORDINATOR_CHROMIUM", "/usr/bin/chromium"))

# CI sets this so that a missing Chromium, Redis or Node fails the run instead of skipping.
REQUIRE_ALL = os.environ.get("COORDINATOR_REQUIRE_ALL") == "1"


def copy_shipped_config(workdir: Path) -> Path:
    """A private copy of the shipped config and its scripts in ``workdir/config``."""
    target = workdir / "config" / "cities.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(SHIPPED_CONFIG, target)
    scripts = SHIPPED_CONFIG.parent / "scripts"
    if scripts.is_dir():
        shutil.copytree(scripts, target.parent / "scripts")
    return target


def skip_or_fail(reason: str) -> None:
    """Skip with a one-line reason, or fail when the environment promises everything is there."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (COORDINATOR_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def which(name: str) -> str | None:
    return shutil.which(name)


class ServerProcess:
    """A real ``coordinator serve`` process on a free port, with its own config and data dir."""

    def __init__(
        self,
        config_path: Path,
        data_dir: Path,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        port: int | None = None,
        argv: Sequence[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.argv = list(argv) if argv is not None else None  # instead of command()
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "coordinator",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--config",
            str(self.config_path),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]

    def store_args(self) -> list[str]:
        """The options that name this server's store (and config), for ``coordinator token``."""
        args = ["--config", str(self.config_path), "--data-dir", str(self.data_dir)]
        for option in ("--redis-url", "--redis-prefix"):
            if option in self.extra_args:
                args += [option, self.extra_args[self.extra_args.index(option) + 1]]
        return args

    def token_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``coordinator token ARGS`` against this server's store (beside it)."""
        return subprocess.run(
            [sys.executable, "-m", "coordinator", "token", *args, *self.store_args()],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=60,
        )

    def start(self, timeout_s: float = 15.0) -> ServerProcess:
        log = self.log_path.open("ab")
        # A session of its own, so that kill() reaches every process it starts (--workers).
        self.proc = subprocess.Popen(
            self.argv or self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM to the server and wait (uvicorn's graceful shutdown); then SIGKILL to
        whatever of its process group is left."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout_s)
        self.kill()
        return self.proc.returncode if code is None else code

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash, with no chance to clean up, and no
        worker left behind."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    # -- HTTP helpers ---------------------------------------------------------------------

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return http_request("GET", self.url + path, headers=headers)

    def get_json(self, path: str, headers: dict[str, str] | None = None) -> Any:
        status, _, body = self.get(path, headers)
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def post_json(self, path: str, payload: Any, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, _, body = http_request(
            "POST", self.url + path, headers=headers, body=json.dumps(payload).encode()
        )
        return status, json.loads(body) if body else None


def http_request(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


class WsClient:
    """A real websocket client that speaks the protocol in JSON lines."""

    def __init__(self, url: str, **connect_kwargs: Any) -> None:
        self._stack = contextlib.ExitStack()
        self.conn: ClientConnection = self._stack.enter_context(
            connect(url, open_timeout=10, **connect_kwargs)
        )

    def send(self, message: dict[str, Any] | str) -> None:
        self.conn.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout_s: float = 5.0) -> dict[str, Any]:
        data = self.conn.recv(timeout=timeout_s)
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """Read messages until one matches; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {timeout_s}s; saw types {seen}")
            try:
                message = self.recv(remaining)
            except TimeoutError:
                continue
            if predicate(message):
                return message
            seen.append(str(message.get("type")))

    def collect(
        self, predicates: dict[str, Callable[[dict[str, Any]], bool]], timeout_s: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """Read until each named predicate has matched once, in whatever order they come."""
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < len(predicates):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"within {timeout_s}s only {sorted(found)} arrived")
            try:
                message = self.recv(remaining)
            except TimeoutError:
                continue
            for name, predicate in predicates.items():
                if name not in found and predicate(message):
                    found[name] = message
                    break
        return found

    def wait_closed(self, timeout_s: float = 10.0) -> int | None:
        """Read until the server closes the connection; return its close code."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.conn.recv(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError(f"the connection was still open after {timeout_s}s")

    def expect_silence(self, timeout_s: float = 0.5) -> None:
        try:
            message = self.recv(timeout_s)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {message}")

    def hello(self, token: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send ``hello`` and return the ``welcome``."""
        message: dict[str, Any] = {"type": "hello", **fields}
        if token is not None:
            message["token"] = token
        self.send(message)
        return self.recv_until(lambda m: m["type"] in ("welcome", "error"))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisServer:
    """A private ``redis-server`` on a free port, for tests that restart or break Redis."""

    def __init__(self, directory: Path, *, appendonly: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed")
            raise AssertionError("unreachable")
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--enable-debug-command", "local",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()


def run_async(coro: Coroutine[Any, Any, T], timeout_s: float = 300.0) -> T:
    """Run a coroutine to completion on a thread of its own: the browser tests' Playwright
    keeps an event loop running in the main thread, where asyncio.run() would refuse."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout_s)


def self_signed_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (and 127.0.0.1), signed by its own key, made with openssl:
    (certificate, key). Clients trust it by taking the certificate as their CA file."""
    if which("openssl") is None:
        skip_or_fail("openssl is not installed")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
