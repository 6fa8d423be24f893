"""The home page's index of rooms: live ones by audience, scheduled ones by start time."""

from datetime import UTC, datetime, timedelta

import pytest

from projections.listing import RoomListing, decode_cursor
from schemas.room import RoomState

T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def room(
    room_id: str,
    status: str = "live",
    started: int = 0,
    scheduled_in: int | None = None,
) -> RoomState:
    return RoomState.model_validate(
        {
            "room_id": room_id,
            "host_id": f"host-{room_id}",
            "title": room_id,
            "status": status,
            "created_at": T0,
            "started_at": T0 + timedelta(minutes=started) if status != "scheduled" else None,
            "scheduled_for": T0 + timedelta(hours=scheduled_in) if scheduled_in else None,
        }
    )


def test_live_rooms_are_listed_by_audience_then_by_the_latest_start() -> None:
    listing = RoomListing()
    listing.update(room("small"), 3)
    listing.update(room("big"), 300)
    listing.update(room("new", started=5), 3)
    assert listing.page("live", 10).room_ids == ["big", "new", "small"]


def test_a_room_moves_as_its_audience_changes_and_leaves_when_it_ends() -> None:
    listing = RoomListing()
    listing.update(room("a"), 10)
    listing.update(room("b"), 20)
    listing.update(room("a"), 30)
    assert listing.page("live", 10).room_ids == ["a", "b"]
    listing.update(room("b", status="ended"), 0)
    assert listing.page("live", 10).room_ids == ["a"] and listing.count("live") == 1


def test_scheduled_rooms_come_by_start_time_and_undated_ones_last() -> None:
    listing = RoomListing()
    listing.update(room("later", "scheduled", scheduled_in=5), 0)
    listing.update(room("undated", "scheduled"), 0)
    listing.update(room("soon", "scheduled", scheduled_in=1), 0)
    assert listing.page("scheduled", 10).room_ids == ["soon", "later", "undated"]
    listing.update(room("soon"), 0)  # it started: now live, no longer scheduled
    assert listing.page("scheduled", 10).room_ids == ["later", "undated"]
    assert listing.page("live", 10).room_ids == ["soon"]


def test_pages_follow_each_other_without_overlap() -> None:
    listing = RoomListing()
    for n in range(25):
        listing.update(room(f"r{n:02d}"), n)
    first = listing.page("live", 10)
    second = listing.page("live", 10, first.next_cursor)
    third = listing.page("live", 10, second.next_cursor)
    seen = first.room_ids + second.room_ids + third.room_ids
    assert seen == [f"r{n:02d}" for n in reversed(range(25))]
    assert third.next_cursor is None and first.next_cursor is not None


@pytest.mark.parametrize("cursor", ["", "nope", "W10", "WyJhIiwgMV0"])
def test_anything_but_one_of_its_cursors_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)
