"""Hypothesis strategies for the websocket protocol (docs/protocol.md), written by hand.

Messages are mostly *almost* right: the protocol's own fields, with each value drawn either
from what is valid or from a list of hostile values (wrong types, huge numbers, NaN, lone
surrogates, control characters, look-alike city names, very long strings, nesting). On top
of those: extra and missing fields, unknown types, duplicate keys, deep nesting, truncated
JSON, and frames that are not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

CITIES = ["paris", "berlin", "winnipeg", "toronto", "new-york", "chennai", "helsinki"]
STATES = ["scheduled", "preparing", "live", "paused", "delayed", "finished", "cancelled"]
ACTIONS = ["next", "prev", "goto", "blank", "unblank"]
CHANNELS = ["status:paris", "cues:paris", "status:*", "cues:*"]

# Characters that have broken JSON-based services before.
NASTY_CHARS = [
    "\u0000", "\u0007", "\t", "\r", "\n", "\r\n", "\u001b", "\u007f", "\u0085", "\u2028",
    "\u2029", "\u200b", "\u202e", "\ufeff", "\ufffd", "\ud800", "\udfff", "\U0001f600",
    "\\", '"', "'", "<script>", "</", "${", "%s", "=", ";", ",",
]  # fmt: skip


def nasty_text(max_size: int = 40) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(NASTY_CHARS), st.text(max_size=8))
    return st.lists(pieces, max_size=max_size // 4 + 1).map("".join)


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 2**53, 2**53 + 1, 2**63, 10**30]),
        st.floats(allow_nan=True, allow_infinity=True),
        nasty_text(),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=6), inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )


SMALL_JSON = json_values(max_leaves=4)
ANY_JSON = json_values()
LONG_TEXT = st.text(min_size=200, max_size=400)
HOSTILE_VALUE = st.one_of(SMALL_JSON, LONG_TEXT)


def hostile(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field value: valid four times in five, hostile otherwise."""
    return st.integers(0, 4).flatmap(lambda n: HOSTILE_VALUE if n == 0 else valid)


def _ids() -> st.SearchStrategy[Any]:
    return st.text(
        alphabet=st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
    ).map(lambda s: f"fz-{s}")


def _cities() -> st.SearchStrategy[Any]:
    lookalikes = ["Paris", "PARIS", "paris ", "ｐａｒｉｓ", "parıs", "paris\u200b", "lyon", ""]
    return st.sampled_from(["paris"] * 6 + CITIES + lookalikes)


def _notes() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=40),
        nasty_text(60),
        st.text(min_size=270, max_size=300),
        st.just("a\r\nb"),
        st.just(""),
    )


VALID_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "status": {
        "id": _ids(),
        "city": _cities(),
        "state": st.sampled_from(STATES),
        "note": _notes(),
        "delay_minutes": st.integers(min_value=-5, max_value=1500),
    },
    "cue": {
        "id": _ids(),
        "city": _cities(),
        "action": st.sampled_from(ACTIONS),
        "index": st.integers(min_value=-3, max_value=200),
        "from": st.integers(min_value=-1, max_value=200),
    },
    "hello": {
        "token": st.text(max_size=20),
        "since": st.integers(min_value=-3, max_value=10**6),
        "epoch": st.text(max_size=20),
        "channels": st.lists(st.sampled_from(CHANNELS), max_size=3),
    },
    "ping": {},
}
FIELDS = {
    kind: {name: hostile(valid) for name, valid in fields.items()}
    for kind, fields in VALID_FIELDS.items()
}
REQUIRED = {"status": ("id", "city", "state"), "cue": ("id", "city", "action")}


ODD_TYPES = st.one_of(json_scalars(), st.sampled_from(["Status", "STATUS", "hello ", "pïng"]))
CITY_OR_WORSE = hostile(st.sampled_from(CITIES))
FREE_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80)


@st.composite
def protocol_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A message object with the protocol's shape and hostile contents."""
    kind = draw(st.sampled_from(["status", "status", "cue", "cue", "hello", "ping"]))
    fields = FIELDS[kind]
    message: dict[str, Any] = {"type": kind}
    for name, value in fields.items():
        required = name in REQUIRED.get(kind, ())
        if draw(st.booleans() if not required else st.sampled_from([True] * 9 + [False])):
            message[name] = draw(value)
    if draw(st.integers(0, 9)) == 0:
        message[draw(st.text(max_size=8))] = draw(SMALL_JSON)
    if draw(st.integers(0, 19)) == 0:
        message["type"] = draw(ODD_TYPES)
    return message


def encode(message: Any, ascii_only: bool) -> str:
    return json.dumps(message, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    """One websocket frame's payload: text (JSON or not) or bytes."""
    choice = draw(st.integers(0, 99))
    if choice < 70:
        message = draw(protocol_objects())
        # Lone surrogates can only travel as \\u escapes: a text frame must be UTF-8.
        return encode(message, ascii_only=draw(st.booleans()) or _has_surrogate(message))
    if choice < 75:
        return encode(draw(ANY_JSON), ascii_only=True)
    if choice < 80:  # duplicate keys
        message = draw(protocol_objects())
        body = encode(message, ascii_only=True)
        key = draw(st.sampled_from(["city", "type", "id", "state"]))
        extra = encode(draw(CITY_OR_WORSE), ascii_only=True)
        return body[:-1] + (", " if len(message) else "") + f'"{key}": {extra}' + "}"
    if choice < 84:  # deep nesting
        depth = draw(st.integers(5, 2400))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return opener * depth + "1" + closer * depth
    if choice < 88:  # huge numbers
        digits = draw(st.integers(10, 4000))
        field = draw(st.sampled_from(["since", "delay_minutes", "index", "from"]))
        return f'{{"type":"status","id":"n","city":"paris","state":"delayed","{field}":{"9" * digits}}}'
    if choice < 92:  # truncated or broken JSON
        body = encode(draw(protocol_objects()), ascii_only=True)
        cut = draw(st.integers(0, max(0, len(body) - 1)))
        return body[:cut]
    if choice < 96:
        return draw(FREE_TEXT)
    return draw(st.binary(max_size=64))


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False
