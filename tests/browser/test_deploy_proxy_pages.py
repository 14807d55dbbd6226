"""The nginx and Caddy configs of docs/deploy.md, as written there, in front of a real server:
Chromium opens the dashboard over HTTPS, a coordinator marks Paris live through the proxy, and
the public page sees it over the proxied websocket; the QR code and the calendar feed link to
the public https:// address.

Chromium resolves every ``*.localhost`` name to this machine, so the pages are served under a
name that is not the server's own address, as behind a real proxy.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from coordinator import qr
from tests.conftest import Tokens
from tests.support.harness import (
    ROOT,
    ServerProcess,
    free_port,
    self_signed_certificate,
    skip_or_fail,
    which,
)

pytestmark = pytest.mark.browser

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
NAME = "reading.localhost"


def doc_block(language: str) -> str:
    """The first fenced block of ``language`` in docs/deploy.md."""
    found = re.search(rf"```{language}\n(.*?)```", DEPLOY_DOC.read_text("utf-8"), re.DOTALL)
    assert found, f"docs/deploy.md has no {language} block"
    return found.group(1)


def substituted(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        assert old in text, f"the documented config no longer has {old!r}"
        text = text.replace(old, new)
    return text


def nginx_command(work: Path, port: int, upstream: int, cert: Path, key: Path) -> list[str]:
    site = substituted(
        doc_block("nginx"),
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "server_name reading.example.org;": f"server_name {NAME};",
            "/etc/letsencrypt/live/reading.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/reading.example.org/privkey.pem": str(key),
            "http://127.0.0.1:8000": f"http://127.0.0.1:{upstream}",
        },
    )
    temp = "\n".join(
        f"  {kind}_temp_path {work / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = work / "nginx.conf"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {work / 'access.log'};\n{temp}\n{site}\n}}\n",
        encoding="utf-8",
    )
    return ["nginx", "-p", str(work), "-e", str(work / "error.log"), "-c", str(conf)]


def caddy_command(work: Path, port: int, upstream: int, cert: Path, key: Path) -> list[str]:
    site = substituted(
        doc_block("caddyfile"),
        {
            "reading.example.org {": f"{NAME}:{port} {{\n    tls {cert} {key}",
            "127.0.0.1:8000": f"127.0.0.1:{upstream}",
        },
    )
    # The test's own: no admin port, no redirect listener on :80, no certificate authority.
    conf = work / "Caddyfile"
    conf.write_text("{\n    admin off\n    auto_https disable_redirects\n}\n" + site, "utf-8")
    return ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]


PROXIES: dict[str, Callable[[Path, int, int, Path, Path], list[str]]] = {
    "nginx": nginx_command,
    "caddy": caddy_command,
}


@pytest.fixture(params=sorted(PROXIES))
def proxy(
    request: pytest.FixtureRequest, server: ServerProcess, tmp_path: Path
) -> Iterator[tuple[int, Path]]:
    """nginx or Caddy on a free port in front of ``server``: (its port, its certificate)."""
    if which(request.param) is None:
        skip_or_fail(f"{request.param} is not installed")
    work = tmp_path / request.param
    work.mkdir()
    work.chmod(0o755)  # nginx's workers may run as another user
    cert, key = self_signed_certificate(work, NAME)
    key.chmod(0o644)
    port = free_port()
    env = {
        "HOME": str(work),
        "XDG_DATA_HOME": str(work),
        "XDG_CONFIG_HOME": str(work),
        "PATH": "/usr/sbin:/usr/bin:/bin",
    }
    log = (work / "proxy.log").open("wb")
    proc = subprocess.Popen(
        PROXIES[request.param](work, port, server.port, cert, key),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (work / "proxy.log").read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{request.param} did not listen"
                time.sleep(0.1)
        yield port, cert
    finally:
        # The whole group: nginx's worker outlives a killed master, holding the port.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def https_get(port: int, cert: Path, path: str) -> tuple[int, bytes]:
    """GET through the proxy as a browser would: TLS for NAME, verified, Host NAME:port."""
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection(NAME, port, context=context, timeout=10)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sock = context.wrap_socket(raw, server_hostname=NAME)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_dashboard_works_through_the_documented_proxy_over_https(
    proxy: tuple[int, Path], server: ServerProcess, browser: Any, tokens: Tokens
) -> None:
    port, cert = proxy
    public_url = f"https://{NAME}:{port}"
    context = browser.new_context(ignore_https_errors=True)
    errors: list[str] = []
    try:
        public, coordinator = context.new_page(), context.new_page()
        for page in (public, coordinator):
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
        public.goto(public_url + "/")
        expect(public.locator("#cities .countdown")).to_have_count(7)
        public.wait_for_selector('[data-city="paris"] .status[data-state="scheduled"]')

        coordinator.goto(public_url + "/coordinator")
        coordinator.fill("#token", tokens.paris)
        coordinator.click("#signin button[type=submit]")
        coordinator.wait_for_selector("#console:not([hidden])")
        coordinator.click('#actions button[data-state="live"]')
        coordinator.wait_for_selector("#message.ok")
        public.wait_for_selector('[data-city="paris"] .status[data-state="live"]', timeout=5000)
    finally:
        context.close()
    assert not errors, errors
    assert "reason=origin" not in server.log()

    status, body = https_get(port, cert, "/cities/paris/follow-qr.svg")
    assert status == 200 and body == qr.qr_svg(f"{public_url}/follow/paris")
    status, body = https_get(port, cert, "/calendar.ics")
    assert status == 200 and f"URL:{public_url}/".encode() in body
