"""Rooms as the gateway reads them: the ``stoa.room-state`` projection plus counts."""

from typing import Any

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from projections.room import RoomState
from schemas.presence import PresenceCounts
from schemas.topics import PRESENCE_COUNTS, ROOM_STATE


class RoomReadModel:
    """Latest state per room, newest version wins (results and the topic both feed it)."""

    def __init__(self, bootstrap: str, producer: LogProducer) -> None:
        self.rooms: dict[str, RoomState] = {}
        self.counts: dict[str, PresenceCounts] = {}
        self._follower = TopicFollower(
            bootstrap,
            [ROOM_STATE.name, PRESENCE_COUNTS.name],
            self._on_record,
            producer,
            "stoa.gateway.read-model",
            start="beginning",
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    @property
    def caught_up(self) -> bool:
        return self._follower.caught_up.is_set()

    async def wait_caught_up(self) -> None:
        await self._follower.caught_up.wait()

    def _on_record(self, record: RawRecord) -> None:
        if record.topic == ROOM_STATE.name:
            self.apply(RoomState.model_validate_json(record.value or b""))
        else:
            counts = PresenceCounts.model_validate_json(record.value or b"")
            self.counts[counts.room_id] = counts

    def apply(self, state: RoomState) -> None:
        known = self.rooms.get(state.room_id)
        if known is None or state.version >= known.version:
            self.rooms[state.room_id] = state

    def apply_snapshot(self, snapshot: dict[str, Any] | None) -> RoomState | None:
        if snapshot is None:
            return None
        state = RoomState.model_validate(snapshot)
        self.apply(state)
        return self.rooms[state.room_id]

    def listener_counts(self, room_id: str) -> tuple[int, int]:
        counts = self.counts.get(room_id)
        return (counts.listener_count, counts.peak_listeners) if counts else (0, 0)
