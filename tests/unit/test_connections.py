"""coordinator/connections.py: what a connection counts as, and the sums over processes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coordinator import config as config_mod
from coordinator.connections import ProcessCounts, connections_message, count_key, total_phones
from coordinator.rules import Actor, Role
from tests.support.harness import ROOT

PUBLIC = Actor(Role.PUBLIC)
CITIES = frozenset({"paris", "berlin"})


@pytest.mark.parametrize(
    ("actor", "topics", "expected"),
    [
        (Actor(Role.COORDINATOR, "paris"), None, ("coordinators", "paris")),
        (Actor(Role.OPERATOR, "paris"), ("cues:paris",), ("operators", "paris")),
        (Actor(Role.ADMIN), None, ("admins", "")),
        (PUBLIC, ("cues:paris",), ("phones", "paris")),  # /follow/paris and /display/paris
        (PUBLIC, None, ("others", "")),  # the dashboard
        (PUBLIC, ("rehearsal:paris",), ("others", "")),  # a rehearsal screen
        (PUBLIC, ("cues:*",), ("others", "")),
        (PUBLIC, ("cues:paris", "status:paris"), ("others", "")),
        (PUBLIC, ("cues:atlantis",), ("others", "")),  # no such city: never a peak of its own
    ],
)
def test_what_a_connection_counts_as(
    actor: Actor, topics: tuple[str, ...] | None, expected: tuple[str, str]
) -> None:
    assert count_key(actor, topics, CITIES) == expected


def test_counts_round_trip_and_refuse_a_foreign_record() -> None:
    counts = ProcessCounts({("phones", "paris"): 3, ("others", ""): 1, ("admins", ""): 0})
    assert ProcessCounts.decode(counts.encode()).counts == {
        ("phones", "paris"): 3,
        ("others", ""): 1,
    }
    with pytest.raises(ValueError, match="unknown connection category 'spies'"):
        ProcessCounts.decode('{"spies|paris": 1}')


def test_the_answer_sums_every_process_and_lists_every_city() -> None:
    config = config_mod.load(ROOT / "config" / "cities.yaml")
    one = ProcessCounts({("phones", "paris"): 2, ("coordinators", "paris"): 1, ("others", ""): 4})
    two = ProcessCounts({("phones", "paris"): 3, ("phones", "berlin"): 1, ("admins", ""): 1})
    assert total_phones([one, two]) == {"paris": 5, "berlin": 1}
    body = connections_message(config, [one, two], datetime(2025, 9, 20, 12, tzinfo=UTC))
    assert body["as_of_utc"] == "2025-09-20T12:00:00Z"
    assert body["processes"] == 2
    assert [c["id"] for c in body["cities"]] == [c.id for c in config.cities]
    assert body["cities"][0] == {"id": "paris", "coordinators": 1, "operators": 0, "phones": 5}
    assert body["cities"][2] == {"id": "winnipeg", "coordinators": 0, "operators": 0, "phones": 0}
    assert (body["admins"], body["phones"], body["viewers"]) == (1, 6, 10)
