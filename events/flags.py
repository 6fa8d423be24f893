"""Moderation queues as the gateway reads them: ``stoa.moderation-queue``, by room and by item."""

import uuid

from events.deadletter import RawRecord
from events.producer import LogProducer
from events.topicview import TopicView
from projections.flags import QueueItem, RoomQueue
from schemas.topics import MODERATION_QUEUE


class QueueReadModel(TopicView):
    def __init__(self, bootstrap: str, producer: LogProducer, fetch_wait_ms: int = 10) -> None:
        self.by_room: dict[str, RoomQueue] = {}
        self.rooms_of_item: dict[uuid.UUID, str] = {}
        super().__init__(
            bootstrap, producer, [MODERATION_QUEUE.name], "stoa.gateway.moderation",
            fetch_wait_ms,
        )  # fmt: skip

    def _on_record(self, record: RawRecord) -> None:
        queue = RoomQueue.model_validate_json(record.value or b"")
        self.by_room[queue.room_id] = queue
        for item in queue.items:
            self.rooms_of_item[item.item_id] = queue.room_id

    def item(self, item_id: uuid.UUID) -> QueueItem | None:
        room_id = self.rooms_of_item.get(item_id)
        queue = self.by_room.get(room_id) if room_id is not None else None
        if queue is None:
            return None
        return next((i for i in queue.items if i.item_id == item_id), None)
