"""Who is connected: what each live connection counts as, and the counts of every process
summed into the one answer of ``GET /api/connections``. Pure: no I/O.

A connection counts once, from the moment it is live (past hello and catch-up) until it leaves,
as what it was when it joined:

- a signed-in coordinator or operator of a city: ``coordinators`` / ``operators`` of that city;
- an admin: ``admins``;
- a signed-out client that follows exactly one city's live cues (``cues:CITY``, and nothing
  else; CITY one of the config's): a **phone** of that city. That is what the follow page (``/follow/CITY``) and the
  projector (``/display/CITY``) send; the protocol cannot tell them apart, and a city has one or
  two projectors against hundreds of phones, so projectors are counted as phones;
- any other signed-out client (the dashboard, a rehearsal screen, a script): ``others``.

``viewers`` in the answer is every signed-out connection: the phones and the others.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from coordinator.config import Config
from coordinator.rules import Actor, Role
from coordinator.schedule import iso_utc

Category = Literal["coordinators", "operators", "admins", "phones", "others"]
CITY_CATEGORIES: tuple[Category, ...] = ("coordinators", "operators", "phones")
CountKey = tuple[Category, str]  # the city is "" for admins and others


def count_key(actor: Actor, topics: tuple[str, ...] | None, cities: Collection[str]) -> CountKey:
    """What a connection of ``actor`` following ``topics`` (None: everything) counts as. A
    phone is only ever one of ``cities`` (the config's): the protocol accepts any city name in
    a topic, and a peak kept per made-up name would let anyone grow the store without bound."""
    if actor.role is Role.COORDINATOR and actor.city:
        return ("coordinators", actor.city)
    if actor.role is Role.OPERATOR and actor.city:
        return ("operators", actor.city)
    if actor.role is Role.ADMIN:
        return ("admins", "")
    if actor.role is Role.PUBLIC and topics is not None and len(topics) == 1:
        family, _, city = topics[0].partition(":")
        if family == "cues" and city in cities:
            return ("phones", city)
    return ("others", "")


@dataclass(frozen=True)
class ProcessCounts:
    """One process's connections by :data:`CountKey`, as it last published them."""

    counts: Mapping[CountKey, int] = field(default_factory=dict)

    def phones(self) -> dict[str, int]:
        """Phones by city."""
        return {city: n for (category, city), n in self.counts.items() if category == "phones"}

    def encode(self) -> str:
        """The record a store keeps: ``{"CATEGORY|CITY": n}``."""
        return json.dumps({f"{cat}|{city}": n for (cat, city), n in self.counts.items() if n})

    @classmethod
    def decode(cls, text: str | bytes) -> ProcessCounts:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) for a record not of its shape."""
        raw = json.loads(text)
        counts: dict[CountKey, int] = {}
        for name, n in raw.items():
            category, _, city = name.partition("|")
            if category not in ("coordinators", "operators", "admins", "phones", "others"):
                raise ValueError(f"unknown connection category {category!r}")
            counts[(category, city)] = int(n)
        return cls(counts)


def total_phones(processes: Iterable[ProcessCounts]) -> dict[str, int]:
    """Phones by city, summed over ``processes``."""
    summed: Counter[str] = Counter()
    for process in processes:
        summed.update(process.phones())
    return dict(summed)


def connections_message(
    config: Config, processes: list[ProcessCounts], as_of: datetime
) -> dict[str, Any]:
    """The body of ``GET /api/connections``: every city of the config in its order (zeros
    included), the admins, and ``viewers``, every signed-out connection. Connections of a city
    the config does not know (a token made for an earlier config) are left out of the cities but
    not of the totals."""
    summed: Counter[CountKey] = Counter()
    for process in processes:
        summed.update(process.counts)
    cities = [
        {"id": city.id, **{category: summed[(category, city.id)] for category in CITY_CATEGORIES}}
        for city in config.cities
    ]
    phones = sum(n for (category, _), n in summed.items() if category == "phones")
    return {
        "as_of_utc": iso_utc(as_of),
        "processes": len(processes),
        "cities": cities,
        "admins": summed[("admins", "")],
        "phones": phones,
        "viewers": phones + summed[("others", "")],
    }
