"""How a server process lives among others: one per data dir, dying with its supervisor,
surviving SIGHUP.

- Two servers on one SQLite data dir would each serve its own viewers its own events (the
  audience silently split): :func:`hold_data_dir` takes an OS lock on a file in the folder,
  which the kernel releases when the holder dies, by ``kill -9`` too.
- A ``--workers`` supervisor killed with ``kill -9`` cannot stop its workers, which would go on
  holding the port: :func:`die_with_supervisor` has the kernel send each worker SIGTERM (its
  graceful shutdown) when its parent dies (Linux ``PR_SET_PDEATHSIG``: immediate, no thread;
  elsewhere a thread polling the parent's pid).
- SIGHUP (a closed terminal, ``systemctl reload``) would end the server:
  :func:`ignore_sighup` logs it instead. Tokens need no reload (every process follows the
  store's); a config change needs a restart. With ``--workers``, uvicorn's
  supervisor restarts the workers on SIGHUP, which reloads both.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("coordinator")

LOCK_NAME = "coordinator.lock"
# Set by the supervisor for its workers: the pid a worker must die with.
SUPERVISOR_VARIABLE = "COORDINATOR_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class DataDirBusy(Exception):
    """Another live process holds the data dir; the message names the folder and the pid."""


class DataDirLock:
    """An open, locked file: the lock lasts as long as this object (or the process)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def hold_data_dir(data_dir: Path) -> DataDirLock:
    """Lock ``data_dir`` for this process (created if missing). Raises :class:`DataDirBusy`
    when a live process holds it; a lock left by a dead one is free (the kernel let it go)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise DataDirBusy(
            f"{data_dir}: another coordinator (pid {holder}) is serving from this folder "
            f"(it holds {path}). Two would split the audience; stop it first, or give this "
            "one its own --data-dir."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(fd, path)


def mark_supervisor() -> None:
    """Called by a supervisor before it starts workers: they inherit its pid to die with."""
    os.environ[SUPERVISOR_VARIABLE] = str(os.getpid())


def die_with_supervisor() -> None:
    """In a worker of :func:`mark_supervisor`'s process: SIGTERM when the parent dies, and
    at once if it already has. Elsewhere (a plain ``uvicorn --factory`` run) nothing: the
    parent there is a shell, which may well end first."""
    supervisor = os.environ.get(SUPERVISOR_VARIABLE, "")
    if not supervisor.isdigit():
        return
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            _watch_parent(int(supervisor))  # no prctl (a sandbox): poll instead
    else:
        _watch_parent(int(supervisor))
    # The supervisor may have died before prctl took effect: then nothing would ever come.
    if os.getppid() != int(supervisor):
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(supervisor: int, interval_s: float = 0.5) -> None:
    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-supervisor", daemon=True).start()


def worker_app() -> Any:
    """The ASGI app factory a ``--workers`` supervisor's workers run: the app of
    ``app_from_env``, in a process that dies with its supervisor and survives SIGHUP."""
    from coordinator.app import app_from_env  # the app, only in the worker that serves it

    die_with_supervisor()
    ignore_sighup()
    return app_from_env()


def ignore_sighup() -> None:
    """Log SIGHUP and carry on (the default action would end the process). Main thread only."""

    def on_sighup(signum: int, frame: FrameType | None) -> None:
        log.warning(
            "SIGHUP received and ignored: tokens need no reload (they are followed in the "
            "store); restart the server to apply a config change"
        )

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_sighup)
