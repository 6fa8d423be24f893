"""Delivery tiers follow the audience with hysteresis; who listens on which path."""

from datetime import UTC, datetime

import pytest

from projections.presence import PresenceState, follow_tier
from projections.tiers import Thresholds, Tier, next_tier, path_for

T = Thresholds(relay_at=100, hls_at=1000, hysteresis=0.8)
AT = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "listeners", "expected"),
    [
        ("direct", 0, "direct"),
        ("direct", 99, "direct"),
        ("direct", 100, "relay"),
        ("direct", 5000, "hls"),
        ("relay", 999, "relay"),
        ("relay", 1000, "hls"),
        ("relay", 80, "relay"),  # within the hysteresis band: stays
        ("relay", 79, "direct"),
        ("hls", 800, "hls"),
        ("hls", 799, "relay"),
        ("hls", 79, "direct"),
    ],
)
def test_the_tier_follows_the_count_with_hysteresis(
    current: Tier, listeners: int, expected: Tier
) -> None:
    assert next_tier(current, listeners, T) == expected


def test_a_room_hovering_at_a_threshold_does_not_flap() -> None:
    tier: Tier = "direct"
    seen = []
    for count in [99, 100, 99, 95, 100, 90, 81, 100, 79]:
        tier = next_tier(tier, count, T)
        seen.append(tier)
    assert seen == ["direct", "relay", "relay", "relay", "relay", "relay", "relay", "relay",
                    "direct"]  # fmt: skip


@pytest.mark.parametrize("tier", ["direct", "relay", "hls"])
@pytest.mark.parametrize("role", ["host", "cohost", "speaker"])
def test_people_on_stage_stay_on_the_mixing_node(tier: Tier, role: str) -> None:
    assert path_for(tier, role, hand_raised=False) == "origin"  # type: ignore[arg-type]


def test_passive_listeners_follow_the_tier_and_a_raised_hand_stays_close() -> None:
    assert [path_for(t, "listener", False) for t in ("direct", "relay", "hls")] == [
        "origin",
        "relay",
        "hls",
    ]
    assert [path_for(t, "listener", True) for t in ("direct", "relay", "hls")] == ["origin"] * 3


def test_each_change_of_tier_is_one_event_with_an_id_that_survives_a_redelivery() -> None:
    state = PresenceState(room_id="r", listener_count=120)
    moved, event = follow_tier(state, T, AT)
    assert moved.tier == "relay" and moved.tier_changes == 1
    assert event is not None and event.data.tier == "relay" and event.data.listener_count == 120
    _, same = follow_tier(state, T, AT)
    assert same is not None and same.event_id == event.event_id
    assert follow_tier(moved, T, AT) == (moved, None)
    down = moved.model_copy(update={"listener_count": 10})
    back, second = follow_tier(down, T, AT)
    assert back.tier == "direct" and second is not None and second.event_id != event.event_id


def test_an_ended_room_keeps_its_tier() -> None:
    state = PresenceState(room_id="r", listener_count=0, closed=True, tier="hls")
    assert follow_tier(state, T, AT) == (state, None)
