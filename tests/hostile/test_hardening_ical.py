"""Hostile test 14 (docs/security.md): notes written to break the calendar feed, sent through
the real server the way a coordinator would, then read back as calendar apps read it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import icalendar

from tests.conftest import Tokens
from tests.hostile.tools import assert_intact, control_viewer
from tests.support.harness import ServerProcess

Start = Callable[..., ServerProcess]

HOSTILE_NOTES = {
    "paris": "x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil@example\r\nSUMMARY:pwned\r\nEND:VEVENT",
    "berlin": "a;b,c\\d\\n not a break\\N; \\, \\; end",
    "toronto": "é" * 140 + "🎭" * 70 + "漢" * 70,  # 280 characters, 910 bytes
    "chennai": "ATTACH:http://evil.example/x\nDTSTART:19700101T000000Z\nSTATUS:CANCELLED",
    "helsinki": "<script>alert(1)</script> \"quoted\" 'single' e\u0301 \u202eevil",
}


def _expected(note: str) -> str:
    return unicodedata.normalize("NFC", note.replace("\r\n", "\n")).strip()


def test_hostile_notes_cannot_break_or_inject_into_the_calendar_feed(
    server: ServerProcess, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        ids = []
        for n, (city, note) in enumerate(HOSTILE_NOTES.items()):
            code, ack = server.post_json(
                f"/api/cities/{city}/status",
                {"id": f"ics{n}", "state": "delayed", "delay_minutes": 5, "note": note},
                tokens.admin,
            )
            assert code == 200, ack
            ids.append(f"ics{n}")
        # A bare CR (a line break no protocol agreed on) is refused, not stored.
        code, error = server.post_json(
            "/api/cities/winnipeg/status",
            {"id": "ics-cr", "state": "preparing", "note": "a\rBEGIN:VEVENT"},
            tokens.admin,
        )
        assert (code, error["code"]) == (400, "invalid")
        for path in ["/calendar.ics", *(f"/cities/{c}/calendar.ics" for c in HOSTILE_NOTES)]:
            status, _, body = server.get(path)
            assert status == 200, path
            _check_wire_format(body, path)
            calendar = icalendar.Calendar.from_ical(body)
            events = list(calendar.walk("VEVENT"))
            assert len(events) == (7 if path == "/calendar.ics" else 1), path
            assert {str(e["UID"]) for e in events} == {
                str(e["UID"]) for e in events if "evil" not in str(e["UID"])
            }
            for event in events:
                city = str(event["UID"]).split("-")[-1].split("@")[0]
                assert str(event["STATUS"]) in ("CONFIRMED", "TENTATIVE"), (city, event["STATUS"])
                assert "pwned" not in str(event["SUMMARY"])
                assert "ATTACH" not in event
                sent = HOSTILE_NOTES.get(city)
                if sent is not None:
                    description = str(event["DESCRIPTION"])
                    assert f"Note: {_expected(sent)}\n" in description, (city, description)
        assert_intact(
            server,
            viewer,
            tokens.admin,
            expected_audit=ids,
            changed_cities=tuple(HOSTILE_NOTES),
        )


def _check_wire_format(body: bytes, path: str) -> None:
    assert body.endswith(b"\r\n"), path
    lines = body.split(b"\r\n")[:-1]
    assert b"\n" not in body.replace(b"\r\n", b""), f"{path}: a bare LF"
    assert b"\r" not in body.replace(b"\r\n", b""), f"{path}: a bare CR"
    for line in lines:
        assert len(line) <= 75, (path, line[:80])
        line.decode("utf-8")  # folding never splits a character
    # Unfolded, no content line was made by a note: every VEVENT has one UID, one SUMMARY.
    unfolded: list[bytes] = []
    for line in lines:
        if line.startswith((b" ", b"\t")):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    names = [line.split(b":", 1)[0].split(b";", 1)[0] for line in unfolded]
    assert names.count(b"BEGIN") == names.count(b"END")
    events: list[list[bytes]] = []
    for name, line in zip(names, unfolded, strict=True):
        if line == b"BEGIN:VEVENT":
            events.append([])
        elif events and line != b"END:VEVENT":
            events[-1].append(name)
    assert events, path
    for props in events:
        for once in (b"UID", b"SUMMARY", b"DESCRIPTION", b"DTSTART", b"STATUS"):
            assert props.count(once) == 1, (path, once, props)
        assert b"ATTACH" not in props and b"BEGIN" not in props, (path, props)
    assert b"evil@example" not in b"".join(line for line in unfolded if line.startswith(b"UID"))
