"""Rooms as the media nodes and the gateway read them: ``stoa.room-state`` plus listener counts."""

from collections.abc import Callable

from events.deadletter import RawRecord
from events.producer import LogProducer
from events.topicview import TopicView
from projections.listing import RoomListing
from projections.tiers import Tier
from schemas.presence import PresenceCounts
from schemas.room import RoomState
from schemas.topics import PRESENCE_COUNTS, ROOM_STATE

Watcher = Callable[[str], None]
"""Called with a room id when that room's state or listener counts change."""


class RoomReadModel(TopicView):
    """Latest state per room, newest version wins (results and the topic both feed it).

    Watchers hear of every change as it is applied, so the media plane can
    tell a room's listeners at once instead of polling.
    """

    def __init__(self, bootstrap: str, producer: LogProducer, fetch_wait_ms: int = 10) -> None:
        self.rooms: dict[str, RoomState] = {}
        self.counts: dict[str, PresenceCounts] = {}
        self.listing = RoomListing()
        """Live and scheduled rooms in the order the home page lists them."""
        self._watchers: list[Watcher] = []
        super().__init__(
            bootstrap, producer, [ROOM_STATE.name, PRESENCE_COUNTS.name],
            "stoa.gateway.read-model", fetch_wait_ms,
        )  # fmt: skip

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def _on_record(self, record: RawRecord) -> None:
        if record.topic == ROOM_STATE.name:
            self.apply(RoomState.model_validate_json(record.value or b""))
        else:
            counts = PresenceCounts.model_validate_json(record.value or b"")
            if self.counts.get(counts.room_id) != counts:
                self.counts[counts.room_id] = counts
                state = self.rooms.get(counts.room_id)
                if state is not None:
                    self.listing.update(state, counts.listener_count)
                self._changed(counts.room_id)

    def apply(self, state: RoomState) -> RoomState:
        """Keep ``state`` if it is newer than what is known; return the room's newest state."""
        known = self.rooms.get(state.room_id)
        if known is None or (state.version >= known.version and state != known):
            self.rooms[state.room_id] = state
            self.listing.update(state, self.listener_counts(state.room_id)[0])
            self._changed(state.room_id)
        return self.rooms[state.room_id]

    def apply_snapshot(self, snapshot: RoomState | None) -> RoomState | None:
        return self.apply(snapshot) if snapshot is not None else None

    def _changed(self, room_id: str) -> None:
        for watcher in self._watchers:
            watcher(room_id)

    def tier(self, room_id: str) -> Tier:
        """The room's delivery tier, decided with its listener count."""
        counts = self.counts.get(room_id)
        return counts.tier if counts is not None else "direct"

    def listener_counts(self, room_id: str) -> tuple[int, int]:
        counts = self.counts.get(room_id)
        return (counts.listener_count, counts.peak_listeners) if counts else (0, 0)
