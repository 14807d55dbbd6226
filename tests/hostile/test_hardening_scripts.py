"""Hostile tests 19 and 24 (docs/security.md): uploaded scripts that would blow up when read, YAML
alias bombs, cues of unbounded length and markup nested thousands deep, refused with FILE:LINE
by uploads and by ``coordinator cues check`` alike, while the server serves everyone else."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.hostile.tools import assert_intact, control_viewer, rss_kib
from tests.support.harness import ROOT, ServerProcess, WsClient, http_request


def _alias_bomb(levels: int = 9) -> str:
    """The billion-laughs shape: each level lists the one before it nine times."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    lines.append(f"cues:\n  - en: hello\n    fr: *l{levels - 1}")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "aliases.yaml": (_alias_bomb(), "application/yaml", "aliases are not allowed"),
    "nested.csv": (
        "n,en,fr\n1," + "<b>" * 20000 + "deep,fr\n",  # 60 KB, as reported
        "text/csv",
        "markup nested 20000 deep",
    ),
    "long.csv": ("n,en,fr\n1,ok,fr\n2," + "x" * 20000 + ",fr\n", "text/csv", "20000 characters"),
}


def test_hostile_scripts_are_refused_with_file_and_line_by_uploads_and_cues_check(
    server: ServerProcess, tokens: Tokens, tmp_path: Path
) -> None:
    assert server.proc is not None
    with control_viewer(server) as viewer:
        rss_before = rss_kib(server.proc.pid)
        for name, (text, media, expected) in HOSTILE.items():
            started = time.monotonic()
            status, _, body = http_request(
                "PUT",
                server.url + "/api/cues/paris/script",
                headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": media},
                body=text.encode(),
            )
            answer = json.loads(body)
            assert status == 400 and answer["code"] == "invalid", (name, status, body[:200])
            assert any(expected in p for p in answer["problems"]), answer["problems"]
            assert all(p.startswith("paris-upload.") for p in answer["problems"])
            assert time.monotonic() - started < 3, name
            path = tmp_path / name
            path.write_text(text, encoding="utf-8")
            check = subprocess.run(
                [sys.executable, "-m", "coordinator", "cues", "check", str(path)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=30,
            )
            assert check.returncode == 1 and expected in check.stdout, (name, check.stdout)
            assert f"{path}:" in check.stdout
        assert rss_kib(server.proc.pid) - rss_before < 50 * 1024
        assert_intact(server, viewer, tokens.admin, expected_audit=[])
    # Eight levels of markup are a surtitler's business, and accepted.
    fine = "n,en,fr\n1," + "<i>" * 8 + "ok" + "</i>" * 8 + ",fr\n"
    status, _, body = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=fine.encode(),
    )
    assert status == 200, body[:300]


# -- 24. hostile cue text on the screens --------------------------------------------------------


@pytest.mark.browser
def test_a_word_of_10000_characters_wraps_on_every_screen(
    server: ServerProcess, tokens: Tokens, ws_client: Callable[..., WsClient], open_page: Any
) -> None:
    word = "W" * 10000
    rows = f"n,en,fr\n1,{word},{word}\n2,<b><i><u>court</u></i></b>,fin\n"
    status, _, body = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=rows.encode(),
    )
    assert status == 200, body[:300]
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    operator.send({"type": "cue", "id": "go1", "city": "paris", "action": "goto", "index": 1})
    assert operator.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
    console = open_page(1280, 800)
    console.goto(f"{server.url}/operator/paris")
    console.fill("#token", tokens.paris_operator)
    console.press("#token", "Enter")
    console.wait_for_selector('#script-list li[data-index="2"]')
    pages = {"operator": console}
    for name in ("display", "follow"):
        pages[name] = open_page(390 if name == "follow" else 1280, 800)
        pages[name].goto(f"{server.url}/{name}/paris")
    for name, page in pages.items():
        page.wait_for_selector(".cue-line")
        page.wait_for_timeout(300)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} overflows sideways by {overflow} px"
