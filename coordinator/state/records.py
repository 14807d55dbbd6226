"""The one storage record format, shared by every backend.

Each thing a store keeps is encoded to text here and decoded from text here; the backends
only move that text (SQLite columns, Redis hash fields, list items and stream fields). The
format is stated once, rather than silently being whatever the wire happens to send:

- **event**: ``data`` and ``staff`` (the operator's part of a cue event) are JSON objects, and
  the audience flag is ``1``/``0``. The record names ``staff`` and ``kind`` are the ones data
  written by earlier versions carries, and are kept for compatibility: in code they are
  :attr:`StoredEvent.operator_data` and :attr:`ScriptUpload.format`.
- **audit row**: a JSON object with ``seq at role actor city kind from to note command_id
  delay_minutes`` (the audit export's shape; ``delay_minutes`` may be missing in older rows).
- **cue log line**: ``[time, index, blank]``, the time an ISO 8601 instant to the microsecond
  (a WebVTT export times lines with it).
- **city status**: the JSON object of :func:`encode_status`; a status event's data has the
  same fields, which lets the Redis reader follow a change made by another process.
- **cue state**: ``{index, blank, frozen, shown_index, shown_blank, follows}``; ``count`` is not
  kept, it comes from the script.
- **script upload**: ``{kind, files, version}``.
- **token**: ``{id, role, city, hash, created, label}``: the hash of the token
  (:func:`coordinator.auth.hash_token`), never the token; ``created`` an ISO 8601 instant in UTC
  to the second. When it was last used is kept apart (an ISO instant, written at most about
  once a minute), so that using a token never rewrites its record.
- **schedule override**: a JSON object with any of ``start_utc`` (ISO 8601 UTC),
  ``duration_minutes``, ``confirmed``, ``venue``, ``address``, ``access``, ``geo``
  (``[lat, lon]``); a field absent is the config file's, ``null`` clears an optional one.

Decoders are tolerant of what older versions wrote: a missing optional field takes its default.
They raise ``ValueError`` (``json.JSONDecodeError`` is one), ``KeyError`` or ``TypeError`` for a
record that is not of its shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from coordinator.auth import TokenRecord
from coordinator.cue_log import CueLogEntry
from coordinator.cue_state import CueState
from coordinator.overrides import ATTRIBUTES, CityOverride
from coordinator.rules import CityStatus, Role, State
from coordinator.schedule import iso_utc, parse_iso_utc
from coordinator.state.base import AuditEntry, ScriptUpload, StoredEvent

EVENT_KINDS = ("status", "presence", "cue", "schedule")


def _dump(value: Any) -> str:
    return json.dumps(value)


def _iso_or_none(value: datetime | None) -> str | None:
    return iso_utc(value) if value else None


def _dt_or_none(value: str | None) -> datetime | None:
    return parse_iso_utc(value) if value else None


# -- events ------------------------------------------------------------------------------------


def encode_event_data(data: Mapping[str, Any]) -> str:
    return _dump(dict(data))


def encode_event_staff(operator_data: Mapping[str, Any] | None) -> str | None:
    """The operator's part of an event, or None when it has none."""
    return _dump(dict(operator_data)) if operator_data is not None else None


def encode_audience(audience: bool) -> int:
    return int(audience)


def decode_event(
    *,
    seq: int | str,
    kind: str,
    city: str,
    at: str,
    data: str,
    staff: str | None,
    audience: int | str | None,
) -> StoredEvent:
    """An event from its stored fields (a missing audience flag means the audience sees it)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return StoredEvent(
        seq=int(seq),
        kind=kind,  # type: ignore[arg-type]  # checked just above
        city=city,
        at=parse_iso_utc(at),
        data=json.loads(data),
        operator_data=json.loads(staff) if staff else None,
        audience=audience is None or str(audience) == "1",
    )


def event_from_fields(fields: Mapping[str, str]) -> StoredEvent:
    """An event from the fields of its stream entry (Redis) or row, by name."""
    return decode_event(
        seq=fields["seq"],
        kind=fields["kind"],
        city=fields["city"],
        at=fields["at"],
        data=fields["data"],
        staff=fields.get("staff"),
        audience=fields.get("audience"),
    )


def decode_event_data(data: str) -> dict[str, Any]:
    """Only an event's data (to read a presence event's flag without the rest)."""
    value = json.loads(data)
    if not isinstance(value, dict):
        raise TypeError("an event's data must be a JSON object")
    return value


# -- audit rows --------------------------------------------------------------------------------


def encode_audit(entry: AuditEntry) -> str:
    return _dump(entry.as_dict())


def decode_audit(text: str | bytes) -> AuditEntry:
    data = json.loads(text)
    return AuditEntry(
        seq=int(data["seq"]),
        at=parse_iso_utc(data["at"]),
        role=data["role"],
        actor=data["actor"],
        city=data["city"],
        kind=data["kind"],
        before=data["from"],
        after=data["to"],
        note=data["note"],
        command_id=data["command_id"],
        delay_minutes=_int_or_none(data.get("delay_minutes")),
    )


def audit_columns(entry: AuditEntry) -> tuple[Any, ...]:
    """An audit row as table columns (SQLite): the fields of :func:`encode_audit`, in order."""
    return (
        entry.seq,
        iso_utc(entry.at),
        entry.role,
        entry.actor,
        entry.city,
        entry.kind,
        entry.before,
        entry.after,
        entry.note,
        entry.command_id,
        entry.delay_minutes,
    )


def audit_from_columns(row: tuple[Any, ...]) -> AuditEntry:
    """An audit row from its columns; a row of a database written before ``delay_minutes``
    was kept has ten."""
    seq, at, role, actor, city, kind, before, after, note, command_id, *rest = row
    if len(rest) > 1:
        raise ValueError(f"an audit row has {len(row)} columns, not 10 or 11")
    return AuditEntry(
        seq=int(seq),
        at=parse_iso_utc(at),
        role=role,
        actor=actor,
        city=city,
        kind=kind,
        before=before,
        after=after,
        note=note,
        command_id=command_id,
        delay_minutes=_int_or_none(rest[0] if rest else None),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# -- cue log lines -----------------------------------------------------------------------------


def encode_cue_log_time(at: datetime) -> str:
    """The time of a cue log line, to the microsecond, with its offset."""
    return at.isoformat()


def encode_cue_log(at: datetime, index: int, blank: bool) -> str:
    return _dump([encode_cue_log_time(at), index, blank])


def decode_cue_log(text: str | bytes) -> CueLogEntry:
    at, index, blank = json.loads(text)
    return cue_log_entry(at, index, blank)


def cue_log_entry(at: str, index: int, blank: int | bool) -> CueLogEntry:
    """A cue log line from its parts (SQLite keeps them in columns)."""
    return CueLogEntry(at=parse_iso_utc(at), index=int(index), blank=bool(blank))


# -- city statuses -----------------------------------------------------------------------------


def status_to_record(status: CityStatus) -> dict[str, Any]:
    """Everything a store keeps of a status, as JSON-ready data."""
    return {
        "state": status.state.value,
        "note": status.note,
        "delay_minutes": status.delay_minutes,
        "expected_start_utc": _iso_or_none(status.expected_start_utc),
        "updated_at": _iso_or_none(status.updated_at),
        "calendar_revision": status.calendar_revision,
        "calendar_changed_at": _iso_or_none(status.calendar_changed_at),
        "started_at": _iso_or_none(status.started_at),
        "ended_at": _iso_or_none(status.ended_at),
    }


def status_from_record(data: Mapping[str, Any]) -> CityStatus:
    return CityStatus(
        state=State(data["state"]),
        note=str(data.get("note", "")),
        delay_minutes=int(data.get("delay_minutes", 0)),
        expected_start_utc=_dt_or_none(data.get("expected_start_utc")),
        updated_at=_dt_or_none(data.get("updated_at")),
        calendar_revision=int(data.get("calendar_revision", 0)),
        calendar_changed_at=_dt_or_none(data.get("calendar_changed_at")),
        # Absent from records written before the actual times were kept: not known.
        started_at=_dt_or_none(data.get("started_at")),
        ended_at=_dt_or_none(data.get("ended_at")),
    )


def encode_status(status: CityStatus) -> str:
    return _dump(status_to_record(status))


def decode_status(text: str | bytes) -> CityStatus:
    return status_from_record(json.loads(text))


# -- cue states --------------------------------------------------------------------------------


def cue_state_to_record(state: CueState) -> dict[str, Any]:
    """A channel's state as kept (``count`` is not: it comes from the script)."""
    return {
        "index": state.index,
        "blank": state.blank,
        "frozen": state.frozen,
        "shown_index": state.shown_index,
        "shown_blank": state.shown_blank,
        "follows": state.follows,
    }


def cue_state_from_record(data: Mapping[str, Any]) -> CueState:
    follows = data.get("follows")
    return CueState(
        index=int(data.get("index", 0)),
        blank=bool(data.get("blank", False)),
        frozen=bool(data.get("frozen", False)),
        shown_index=int(data.get("shown_index", 0)),
        shown_blank=bool(data.get("shown_blank", False)),
        follows=str(follows) if follows is not None else None,
    )


def encode_cue_state(state: CueState) -> str:
    return _dump(cue_state_to_record(state))


def decode_cue_state(text: str | bytes) -> CueState:
    return cue_state_from_record(json.loads(text))


# -- script uploads ----------------------------------------------------------------------------


def encode_script_upload(upload: ScriptUpload) -> str:
    return _dump({"kind": upload.format, "files": dict(upload.files), "version": upload.version})


def decode_script_upload(text: str | bytes) -> ScriptUpload:
    data = json.loads(text)
    files = data["files"]
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise TypeError("a script upload's files must map names to texts")
    return ScriptUpload(format=str(data["kind"]), files=files, version=str(data["version"]))


# -- tokens ------------------------------------------------------------------------------------


def encode_token(record: TokenRecord) -> str:
    """A token's record (its hash only); ``last_used`` is not part of it."""
    return _dump(
        {
            "id": record.id,
            "role": record.role.value,
            "city": record.city,
            "hash": record.hash,
            "created": record.created,
            "label": record.label,
        }
    )


def decode_token(text: str | bytes, last_used: str | bytes | None = None) -> TokenRecord:
    data = json.loads(text)
    role = Role(data["role"])
    if role is Role.PUBLIC:
        raise ValueError("a public token cannot be stored")
    hashed = str(data["hash"])
    if not hashed.startswith("sha256:"):
        raise ValueError("a token record holds a sha256: hash")
    city = data.get("city")
    used = last_used.decode() if isinstance(last_used, bytes) else last_used
    return TokenRecord(
        id=str(data["id"]),
        role=role,
        city=str(city) if city is not None else None,
        hash=hashed,
        created=str(data.get("created", "")),
        label=str(data.get("label", "")),
        last_used=used or None,
    )


# -- schedule overrides ------------------------------------------------------------------------


def encode_override(override: CityOverride) -> str:
    data = dict(override.values)
    if "start_utc" in data:
        data["start_utc"] = iso_utc(data["start_utc"])
    if data.get("geo") is not None:
        data["geo"] = list(data["geo"])
    return _dump(data)


def decode_override(text: str | bytes) -> CityOverride:
    data = json.loads(text)
    if not isinstance(data, dict) or not set(data) <= set(ATTRIBUTES):
        raise TypeError(f"a schedule override holds only {', '.join(ATTRIBUTES)}")
    if "start_utc" in data:
        data["start_utc"] = parse_iso_utc(data["start_utc"])
    if "duration_minutes" in data:
        data["duration_minutes"] = int(data["duration_minutes"])
    if "confirmed" in data:
        data["confirmed"] = bool(data["confirmed"])
    if data.get("geo") is not None:
        lat, lon = data["geo"]
        data["geo"] = (float(lat), float(lon))
    return CityOverride(data)
