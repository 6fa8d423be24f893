"""Time travel: the room as it was at a sequence number or an instant."""

from collections.abc import Iterable
from datetime import datetime

from projections.room import RoomState, evolve
from schemas.events import Event


def room_at(
    events: Iterable[Event], *, seq: int | None = None, at: datetime | None = None
) -> RoomState | None:
    """Fold the room's events up to and including ``seq`` and/or ``at``.

    Events must be one room's ``stoa.room-events`` records in log order;
    duplicates are harmless because ``evolve`` ignores seqs it has seen.
    """
    state: RoomState | None = None
    for event in events:
        if seq is not None and (event.seq or 0) > seq:
            break
        if at is not None and event.occurred_at > at:
            break
        state = evolve(state, event)
    return state
