"""Rooms as the home page lists them: live ones by audience, scheduled ones by start time.

The gateway keeps this index up to date as room snapshots and listener counts
arrive, so listing a page costs a slice of an ordered list, not a scan of
every room ever created. Pages are cut by keyset (the last item's sort key
is the cursor): a room whose audience changes between two page requests may
move across the cut and be seen twice or not at all on the next page, as in
any live ranking; the first page is always exact.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sortedcontainers import SortedList

from schemas.room import RoomState

Listed = Literal["live", "scheduled"]
Key = tuple[float, float, str]

FAR_FUTURE = 4102444800.0
"""2100-01-01: where a room scheduled without a time sorts (after every dated one)."""


def _ts(moment: datetime | None, default: float = 0.0) -> float:
    return moment.timestamp() if moment is not None else default


def sort_key(state: RoomState, listeners: int) -> tuple[Listed, Key] | None:
    """Where a room belongs in the listing, or None once it has ended."""
    if state.status == "live":
        return "live", (-float(listeners), -_ts(state.started_at), state.room_id)
    if state.status == "scheduled":
        return "scheduled", (
            _ts(state.scheduled_for, FAR_FUTURE),
            _ts(state.created_at),
            state.room_id,
        )
    return None


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor carries; ``ValueError`` for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first, second, room_id = json.loads(raw)
        return float(first), float(second), str(room_id)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a cursor of this listing") from exc


@dataclass(frozen=True)
class Page:
    room_ids: list[str]
    next_cursor: str | None


class RoomListing:
    def __init__(self) -> None:
        self._lists: dict[Listed, SortedList] = {"live": SortedList(), "scheduled": SortedList()}
        self._where: dict[str, tuple[Listed, Key]] = {}

    def update(self, state: RoomState, listeners: int) -> None:
        """A room changed (state or audience): move it to where it now belongs."""
        place = sort_key(state, listeners)
        previous = self._where.get(state.room_id)
        if previous == place:
            return
        if previous is not None:
            self._lists[previous[0]].discard(previous[1])
            del self._where[state.room_id]
        if place is not None:
            self._lists[place[0]].add(place[1])
            self._where[state.room_id] = place

    def count(self, listed: Listed) -> int:
        return len(self._lists[listed])

    def page(self, listed: Listed, limit: int, cursor: str | None = None) -> Page:
        """Up to ``limit`` rooms after ``cursor`` (from the start without one)."""
        ordered = self._lists[listed]
        start = ordered.bisect_right(decode_cursor(cursor)) if cursor else 0
        keys = list(ordered.islice(start, start + limit))
        more = start + limit < len(ordered)
        return Page([key[2] for key in keys], encode_cursor(keys[-1]) if keys and more else None)
