"""The storage record format: what the backends write reads back the same, and records in the
exact shapes earlier versions wrote (SQLite rows, Redis fields) still load."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coordinator import views
from coordinator.auth import new_token
from coordinator.cue_log import CueLogEntry
from coordinator.cue_state import CueState
from coordinator.rules import CityStatus, Role, State
from coordinator.state import records
from coordinator.state.base import AuditEntry, ScriptUpload, StoredEvent

T0 = datetime(2025, 9, 20, 12, 0, 0, 123456, tzinfo=UTC)

T0_S = T0.replace(microsecond=0)  # a status keeps whole seconds
STATUS = CityStatus(
    state=State.DELAYED,
    note="pluie, on commence plus tard",
    delay_minutes=15,
    expected_start_utc=T0_S + timedelta(minutes=15),
    updated_at=T0_S,
    calendar_revision=2,
    calendar_changed_at=T0_S,
)
CUE = CueState(index=3, blank=True, frozen=True, shown_index=2, shown_blank=False, follows="oslo")
AUDIT = AuditEntry(
    seq=41,
    at=T0_S,  # an audit time keeps whole seconds
    role="operator",
    actor="t-paris",
    city="paris",
    kind="cue",
    before="2",
    after="3",
    note="next",
    command_id="o-5",
)
UPLOAD = ScriptUpload(format="srt", files={"en": "1\n…", "fr": "1\nÀ bientôt"}, version="abc123")


# -- round trips -------------------------------------------------------------------------------


def test_every_record_reads_back_as_written() -> None:
    assert records.decode_status(records.encode_status(STATUS)) == STATUS
    assert records.decode_status(records.encode_status(CityStatus())) == CityStatus()
    assert records.decode_cue_state(records.encode_cue_state(CUE)) == CUE
    assert records.decode_audit(records.encode_audit(AUDIT)) == AUDIT
    assert records.audit_from_columns(records.audit_columns(AUDIT)) == AUDIT
    assert records.decode_script_upload(records.encode_script_upload(UPLOAD)) == UPLOAD
    assert records.decode_cue_log(records.encode_cue_log(T0, 7, True)) == CueLogEntry(T0, 7, True)


def test_a_token_reads_back_with_its_last_use_and_never_holds_the_token() -> None:
    token, record = new_token(Role.OPERATOR, "paris", "Surtitles, Paris")
    text = records.encode_token(record)
    assert token not in text and set(json.loads(text)) == {
        "id", "role", "city", "hash", "created", "label",
    }  # fmt: skip
    assert records.decode_token(text) == record
    used = "2025-09-20T12:00:00Z"
    assert records.decode_token(text, used.encode()) == replace(record, last_used=used)
    for broken in ({"role": "public"}, {"hash": token}):
        with pytest.raises(ValueError, match=r"public|sha256"):
            records.decode_token(json.dumps({**json.loads(text), **broken}))


def test_an_event_reads_back_with_its_operator_part_and_audience_flag() -> None:
    event = StoredEvent(
        seq=9,
        kind="cue",
        city="paris",
        at=T0.replace(microsecond=123000),
        data={"index": 2, "text": {"fr": "Bienvenue à tous"}},
        operator_data={"notes": "GO"},
        audience=False,
    )
    back = records.decode_event(
        seq=str(event.seq),
        kind=event.kind,
        city=event.city,
        at="2025-09-20T12:00:00.123Z",
        data=records.encode_event_data(event.data),
        staff=records.encode_event_staff(event.operator_data),
        audience=str(records.encode_audience(event.audience)),
    )
    assert back == event
    assert records.encode_event_staff(None) is None


def test_a_status_event_carries_the_fields_of_a_status_record() -> None:
    """The Redis reader rebuilds another process's status from the event's data."""
    assert records.status_from_record(views.status_fields(STATUS)) == STATUS


# -- today's exact shapes ----------------------------------------------------------------------


def test_sqlite_rows_as_written_before_load() -> None:
    # An events row: data and staff as json.dumps wrote them, audience an INTEGER.
    event = records.decode_event(
        seq=12,
        kind="cue",
        city="paris",
        at="2025-09-20T12:00:00.000Z",
        data=json.dumps({"index": 1, "text": {"fr": "\u00c0 bient\u00f4t"}, "channel": "live"}),
        staff=json.dumps({"notes": "", "state": {"index": 1}}),
        audience=1,
    )
    assert event.data["text"] == {"fr": "À bientôt"} and event.audience is True
    assert event.operator_data == {"notes": "", "state": {"index": 1}}
    hidden = records.decode_event(
        seq=13, kind="presence", city="oslo", at="2025-09-20T12:00:01.000Z",
        data='{"online": true}', staff=None, audience=0,
    )  # fmt: skip
    assert hidden.operator_data is None and hidden.audience is False
    # A cue_log row keeps its time with the microseconds and the offset.
    entry = records.cue_log_entry("2025-09-20T12:00:00.123456+00:00", 4, 0)
    assert entry == CueLogEntry(T0, 4, False)
    # An audit row, column by column.
    row = (41, "2025-09-20T12:00:00.123Z", "operator", "t-paris", "paris", "cue", "2", "3",
           "next", "o-5")  # fmt: skip
    assert records.audit_from_columns(row).at == T0.replace(microsecond=123000)
    # A database written before delay_minutes was kept has ten columns; the new one, eleven.
    assert records.audit_from_columns(row).delay_minutes is None
    assert records.audit_from_columns((*row, 15)).delay_minutes == 15
    with pytest.raises(ValueError, match="12 columns"):
        records.audit_from_columns((*row, 15, 16))


def test_redis_fields_as_written_before_load() -> None:
    # A stream entry: every field a string, no staff field for events without one.
    fields = {
        "seq": "5",
        "kind": "status",
        "city": "paris",
        "at": "2025-09-20T12:00:00.000Z",
        "data": '{"state": "live", "note": ""}',
        "audience": "1",
    }
    event = records.decode_event(
        seq=fields["seq"],
        kind=fields["kind"],
        city=fields["city"],
        at=fields["at"],
        data=fields["data"],
        staff=fields.get("staff"),
        audience=fields.get("audience"),
    )
    assert event.seq == 5 and event.operator_data is None and event.audience
    # An entry from before the audience flag existed: the audience saw it.
    assert records.decode_event(
        seq="6", kind="cue", city="paris", at=fields["at"], data="{}", staff=None, audience=None
    ).audience
    # A cue log list item.
    assert records.decode_cue_log('["2025-09-20T12:00:00.123456+00:00", 2, false]') == (
        CueLogEntry(T0, 2, False)
    )
    # An audit list item, in the audit export's shape.
    audit = {
        "seq": 41, "at": "2025-09-20T12:00:00.123Z", "role": "operator", "actor": "t-paris",
        "city": "paris", "kind": "cue", "from": "2", "to": "3", "note": "next",
        "command_id": "o-5",
    }  # fmt: skip
    assert records.decode_audit(json.dumps(audit)) == AuditEntry(
        **{**AUDIT.__dict__, "at": T0.replace(microsecond=123000)}
    )


def test_status_cue_and_script_records_as_written_before_load() -> None:
    status = records.decode_status(
        '{"state": "delayed", "note": "pluie", "delay_minutes": 15, '
        '"expected_start_utc": "2025-09-20T12:15:00Z", "updated_at": "2025-09-20T12:00:00Z", '
        '"calendar_revision": 2, "calendar_changed_at": null}'
    )
    assert status.state is State.DELAYED and status.delay_minutes == 15
    assert status.calendar_changed_at is None
    assert status.expected_start_utc == datetime(2025, 9, 20, 12, 15, tzinfo=UTC)
    # An older status record without the calendar fields.
    assert records.decode_status('{"state": "live"}') == CityStatus(state=State.LIVE)
    cue = records.decode_cue_state(
        '{"index": 3, "blank": true, "frozen": false, "shown_index": 0, '
        '"shown_blank": false, "follows": null}'
    )
    assert cue == CueState(index=3, blank=True)
    assert records.decode_cue_state('{"index": 2}') == CueState(index=2)  # older: fewer fields
    upload = records.decode_script_upload(
        '{"kind": "csv", "files": {"": "n,en\\n1,Hi\\n"}, "version": "0123456789ab"}'
    )
    assert upload == ScriptUpload(format="csv", files={"": "n,en\n1,Hi\n"}, version="0123456789ab")
    # What is written now is that same shape: the field names stay "kind" and "staff".
    assert json.loads(records.encode_script_upload(upload)) == {
        "kind": "csv",
        "files": {"": "n,en\n1,Hi\n"},
        "version": "0123456789ab",
    }


@pytest.mark.parametrize(
    ("decode", "text"),
    [
        (records.decode_status, '{"note": "no state"}'),
        (records.decode_status, '{"state": "exploded"}'),
        (records.decode_cue_state, "not json"),
        (records.decode_script_upload, '{"kind": "csv", "files": ["a"], "version": "x"}'),
        (records.decode_audit, '{"seq": 1}'),
        (records.decode_cue_log, '["2025-09-20T12:00:00Z", 1]'),
    ],
)
def test_a_record_of_the_wrong_shape_is_refused(decode: Callable[[str], object], text: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode(text)


def test_an_unknown_event_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        records.decode_event(
            seq=1, kind="gossip", city="paris", at="2025-09-20T12:00:00Z", data="{}",
            staff=None, audience=1,
        )  # fmt: skip
