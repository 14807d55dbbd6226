"""Builders of the client messages (docs/protocol.md) and small figures the tests share."""

from __future__ import annotations

from typing import Any


def status(cmd_id: str, city: Any, state: str = "cancelled", **extra: Any) -> dict[str, Any]:
    """A ``status`` command (``city`` is Any: hostile tests send look-alikes and wrong types)."""
    return {"type": "status", "id": cmd_id, "city": city, "state": state, **extra}


def cue(cmd_id: str, city: str, action: str, **extra: Any) -> dict[str, Any]:
    """A ``cue`` command."""
    return {"type": "cue", "id": cmd_id, "city": city, "action": action, **extra}


def p99(values: list[float]) -> float:
    """The 99th percentile by nearest rank (0.0 for no values)."""
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else 0.0
