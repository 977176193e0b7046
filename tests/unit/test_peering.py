"""The peering rule the requeuer follows to stay idle on a standby instance (``outranks_peers``),
checked on hand-written records and on records kopf itself writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from glidepath.handlers import outranks_peers
from kopf._core.engines.peering import Identity, Peer

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def record(priority: int, seen_ago: float, lifetime: int = 60) -> dict[str, Any]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat(),
    }


@pytest.mark.parametrize(
    ("others", "active"),
    [
        ({}, True),
        ({"b": record(5, seen_ago=1)}, True),  # lower priority
        ({"b": record(10, seen_ago=1)}, False),  # equal priority: both stand down, as kopf does
        ({"b": record(20, seen_ago=1)}, False),
        ({"b": record(20, seen_ago=61)}, True),  # dead: lastseen + lifetime passed
        ({"b": record(20, seen_ago=61, lifetime=120)}, False),  # its own lifetime counts
        ({"b": record(5, seen_ago=1), "c": record(11, seen_ago=30)}, False),
        ({"b": {"priority": 20}}, False),  # no lastseen: seen now, as kopf reads it
        ({"b": {"lastseen": (NOW - timedelta(seconds=1)).isoformat()}}, True),  # priority 0
        ({"b": {"priority": "high", "lastseen": NOW.isoformat()}}, False),  # unreadable: stay idle
        ({"b": record(20, seen_ago=1) | {"lastseen": "2026-11-21T11:59:59"}}, False),  # naive: UTC
    ],
)
def test_active_unless_a_live_peer_has_equal_or_higher_priority(others: dict[str, Any], active: bool) -> None:
    status = {"me": record(10, seen_ago=0), **others}
    assert outranks_peers(status, "me", 10, NOW) is active


@pytest.mark.parametrize("seen_ago", [1.0, 59.0, 61.0, 600.0])
@pytest.mark.parametrize("their_priority", [0, 9, 10, 11])
def test_same_verdict_as_kopfs_own_peer_record(seen_ago: float, their_priority: int) -> None:
    """kopf's Peer (what kopf's peering reads) and our parsing agree on records kopf writes."""
    now = datetime.now(UTC)
    theirs = Peer(
        identity=Identity("them"),
        priority=their_priority,
        lifetime=60,
        lastseen=(now - timedelta(seconds=seen_ago)).isoformat(),
    )
    kopf_says_rival = not theirs.is_dead and theirs.priority >= 10
    status = {"them": theirs.as_dict()}
    assert outranks_peers(status, "me", 10, now) is not kopf_says_rival
