"""Script uploads and follows over the real server, on both stores: every accepted upload
reaches the city's screens with a fresh ack, whatever was uploaded before and wherever;
spreadsheets show exactly their text; a city without a script can follow another."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from tests.conftest import Tokens
from tests.support.harness import ServerProcess, WsClient, http_request

Open = Callable[..., WsClient]
FRENCH = [
    "Bienvenue à toutes et à tous.",
    "« Nous lisons ensemble »,\ndans sept villes.",
    "Merci d’être venus !",
]
ENGLISH = ["Welcome.", "We read together,\nin seven cities.", "Thank you for coming!"]
VERSION_A = "n,en,fr\n1,One,Un\n2,Two,Deux\n"
VERSION_B = "n,en,fr\n1,One (new),Un (nouveau)\n2,Two,Deux\n"


def upload(
    server: ServerProcess, token: str, city: str, body: bytes, content_type: str = "text/csv",
    query: str = "",
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    status, _, raw = http_request(
        "PUT",
        f"{server.url}/api/cues/{city}/script{query}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body=body,
    )
    return status, json.loads(raw)


def screen(ws_client: Open, server: ServerProcess, city: str) -> WsClient:
    client = ws_client(server.ws_url)
    client.hello(channels=[f"cues:{city}"])
    client.recv()  # the snapshot
    return client


def next_cue(client: WsClient, city: str) -> dict[str, Any]:
    return client.recv_until(
        lambda m: m["type"] == "event" and m["kind"] == "cue" and m["city"] == city
    )


def cue_event(client: WsClient, seq: int) -> dict[str, Any]:
    """The cue event numbered ``seq`` (earlier ones are skipped)."""
    return client.recv_until(lambda m: m["type"] == "event" and m.get("seq") == seq)


def staff(ws_client: Open, server: ServerProcess, token: str) -> WsClient:
    client = ws_client(server.ws_url)
    client.hello(token)
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def go(client: WsClient, cmd_id: str, city: str, action: str, **extra: Any) -> dict[str, Any]:
    client.send({"type": "cue", "id": cmd_id, "city": city, "action": action, **extra})
    return client.recv_until(lambda m: m["type"] in ("ack", "error") and m.get("id") == cmd_id)


def test_reverting_to_an_earlier_upload_reaches_the_screens_with_a_fresh_ack(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    paris = screen(ws_client, backend_server, "paris")
    op = staff(ws_client, backend_server, tokens.paris_operator)
    assert go(op, "go-1", "paris", "next")["type"] == "ack"  # at cue 1 of the demo
    next_cue(paris, "paris")
    seqs = []
    for text, french in ((VERSION_A, "Un"), (VERSION_B, "Un (nouveau)"), (VERSION_A, "Un")):
        status, ack = upload(backend_server, tokens.admin, "paris", text.encode())
        assert status == 200 and ack["type"] == "ack", ack
        seqs.append(ack["seq"])
        shown = next_cue(paris, "paris")
        assert (shown["text"]["fr"], shown["seq"]) == (french, ack["seq"])
        # The operator's preview too. Its event is matched by seq: with Redis an ack may come
        # before the event it acknowledges, so go-1's event may still be waiting in line.
        preview = cue_event(op, ack["seq"])
        assert preview["next"]["fr"] == "Deux"
    assert seqs[0] < seqs[1] < seqs[2]  # the third upload is not taken for a retry


def test_the_same_script_uploaded_to_a_second_city_reaches_its_screens(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    berlin = screen(ws_client, backend_server, "berlin")
    first = upload(backend_server, tokens.admin, "paris", VERSION_A.encode())[1]
    status, second = upload(backend_server, tokens.admin, "berlin", VERSION_A.encode())
    assert status == 200 and second["seq"] > first["seq"]
    shown = next_cue(berlin, "berlin")
    assert shown["version"] == second["version"] and shown["count"] == 2


def french_excel_csv() -> bytes:
    rows = ["n;en;fr;notes"]
    for i, (en, fr) in enumerate(zip(ENGLISH, FRENCH, strict=True), start=1):
        cells = [f'"{t}"' if "\n" in t else t for t in (en, fr)]
        rows.append(f"{i};{cells[0]};{cells[1]};")
    return b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n"


def workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Feuil1"
    sheet.append(["n", "en", "fr", "notes"])
    for i, (en, fr) in enumerate(zip(ENGLISH, FRENCH, strict=True), start=1):
        sheet.append([i, en, fr, None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def check_shown_exactly(server: ServerProcess, ws_client: Open, tokens: Tokens) -> None:
    paris = screen(ws_client, server, "paris")
    op = staff(ws_client, server, tokens.paris_operator)
    texts = []
    for n in range(len(FRENCH)):
        assert go(op, f"go-{n}", "paris", "goto", index=n + 1)["type"] == "ack"
        texts.append(next_cue(paris, "paris")["text"])
    assert texts == [{"en": en, "fr": fr} for en, fr in zip(ENGLISH, FRENCH, strict=True)]
    status, _, raw = server.get(
        "/api/cues/paris/script", {"Authorization": f"Bearer {tokens.admin}"}
    )
    assert status == 200
    assert [c["text"]["fr"] for c in json.loads(raw)["cues"]] == FRENCH


def test_a_french_excel_csv_upload_shows_exactly_its_text(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    status, ack = upload(backend_server, tokens.admin, "paris", french_excel_csv())
    assert status == 200, ack
    check_shown_exactly(backend_server, ws_client, tokens)


def test_an_xlsx_upload_shows_exactly_its_text(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    status, ack = upload(backend_server, tokens.admin, "paris", workbook(), xlsx)
    assert status == 200, ack
    status, ack = upload(backend_server, tokens.admin, "paris", workbook(), xlsx, "?sheet=Nope")
    assert status == 400 and "no sheet 'Nope'" in ack["message"]
    backend_server.kill()  # the workbook survives a restart
    backend_server.start()
    check_shown_exactly(backend_server, ws_client, tokens)


def test_a_city_without_a_script_follows_another_and_its_screens_show_the_leader(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    # Berlin has no script in the test config; Paris has the demo.
    berlin_screen = screen(ws_client, backend_server, "berlin")
    admin = staff(ws_client, backend_server, tokens.admin)
    refused = go(admin, "f-0", "paris", "follow", target="berlin")
    assert refused["type"] == "error" and refused["code"] == "conflict"
    assert "berlin has no cue script to follow" in refused["message"]
    assert go(admin, "f-1", "berlin", "follow", target="paris")["type"] == "ack"
    followed = next_cue(berlin_screen, "berlin")
    assert followed["follows"] == "paris" and followed["count"] > 0
    paris_op = staff(ws_client, backend_server, tokens.paris_operator)
    assert go(paris_op, "go-1", "paris", "next")["type"] == "ack"
    shown = next_cue(berlin_screen, "berlin")
    assert shown["index"] == 1 and shown["text"]
    # A screen opened now gets the followed city in its snapshot.
    late = ws_client(backend_server.ws_url)
    late.hello(channels=["cues:berlin"])
    snapshot = late.recv()
    assert (
        snapshot["cues"]["berlin"]["index"] == 1
        and snapshot["cues"]["berlin"]["follows"] == "paris"
    )


def test_drift_is_shown_only_between_cities_that_have_both_begun(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    status, _ = upload(backend_server, tokens.admin, "helsinki", VERSION_A.encode())
    assert status == 200
    assert backend_server.get_json("/api/drift?reference=paris")["cities"] == {}
    paris_op = staff(ws_client, backend_server, tokens.paris_operator)
    assert go(paris_op, "go-1", "paris", "next")["type"] == "ack"
    cities = backend_server.get_json("/api/drift?reference=paris")["cities"]
    assert set(cities) == {"paris"}  # Helsinki has not begun: not "1 cue behind Paris"


def test_a_city_given_surtitles_but_no_script_is_in_the_snapshot_so_its_console_can_follow(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace("  - id: berlin\n", "  - id: berlin\n    surtitles: {languages: [de]}\n", 1),
        encoding="utf-8",
    )
    server = server_factory()
    console = ws_client(server.ws_url)
    console.hello(tokens.berlin_operator)
    snapshot = console.recv_until(lambda m: m["type"] == "snapshot")
    assert snapshot["cues"]["berlin"]["count"] == 0 and "paris" in snapshot["cues"]
    assert go(console, "f-1", "berlin", "follow", target="paris")["type"] == "ack"


def check(
    server: ServerProcess, token: str, city: str, body: bytes, content_type: str = "text/csv"
) -> tuple[int, dict[str, Any]]:
    status, _, raw = http_request(
        "POST",
        f"{server.url}/api/cues/{city}/script/check",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body=body,
    )
    return status, json.loads(raw)


def test_a_check_lists_every_problem_by_line_and_changes_nothing(
    server: ServerProcess, tokens: Tokens
) -> None:
    """/admin shows a file's problems before anything changes: the check reads the body as
    PUT would, reports what `coordinator cues check` reports, and stores nothing."""
    before = server.get_json("/api/state")["cues"]["paris"]
    status, report = check(server, tokens.admin, "paris", b"n,en,fr\n1,,\n2,Two,Deux\n3,,Trois\n")
    assert status == 200, report
    assert report["ok"] is False and report["cues"] == [] and report["count"] == 0
    # Every problem at once, each with its line: cue 1 lacks both texts, cue 3 its English.
    assert [p.split(": ")[0] for p in report["problems"]] == [
        "paris-upload.csv:2", "paris-upload.csv:2", "paris-upload.csv:4",
    ]  # fmt: skip

    good = "n,en,fr\n" + "".join(f"{i},Line {i},Ligne {i}\n" for i in range(1, 15))
    status, report = check(server, tokens.admin, "paris", good.encode())
    assert status == 200, report
    assert (report["ok"], report["problems"], report["count"]) == (True, [], 14)
    assert report["languages"] == ["en", "fr"]
    assert len(report["cues"]) == 10  # a preview: the first lines
    assert report["cues"][0] == {
        "index": 1,
        "label": "1",
        "text": {"en": "Line 1", "fr": "Ligne 1"},
    }
    assert server.get_json("/api/state")["cues"]["paris"] == before  # nothing changed

    # Only an admin checks (as only an admin uploads); a request without a format is refused.
    assert check(server, tokens.paris_operator, "paris", good.encode())[0] == 403
    status, body = check(server, tokens.admin, "paris", good.encode(), "text/plain")
    assert (status, body["code"]) == (400, "invalid")
