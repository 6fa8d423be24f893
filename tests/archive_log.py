"""Writing scripted records straight onto the log, for the archive tests and bench."""

import asyncio
import uuid
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from schemas import events as e
from schemas.base import WireModel
from schemas.presence import PresenceBatch

Record = tuple[str, str, bytes]
"""(topic, key, value)"""


async def _produce_all(bootstrap: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(t, v, key=k.encode()) for t, k, v in records]
        for future in futures:
            await future
    finally:
        await producer.stop()


def produce_all(bootstrap: str, records: list[Record]) -> None:
    """Append in order (per key, which is what Kafka orders) and wait for every ack."""
    asyncio.run(_produce_all(bootstrap, records))


class RoomScript:
    """A room's events with chosen times, in the order they happened."""

    def __init__(self, room_id: str, start: datetime) -> None:
        self.room_id, self.start, self.seq = room_id, start, 0
        self.records: list[Record] = []
        self._batch_seq = 0

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    def event(
        self, cls: type[e.Event], minutes: float, actor: str, data: WireModel
    ) -> "RoomScript":
        self.seq += 1
        event = cls(
            event_id=uuid.uuid4(),
            room_id=self.room_id,
            actor_id=actor,
            seq=self.seq,
            occurred_at=self.at(minutes),
            data=data,  # type: ignore[call-arg]
        )
        self.records.append(("stoa.room-events", self.room_id, event.model_dump_json().encode()))
        return self

    def user_event(self, cls: type[e.Event], minutes: float, actor: str, user: str) -> "RoomScript":
        return self.event(cls, minutes, actor, e.UserData(user_id=user))

    def presence(
        self, minutes: float, user: str, joined: bool, *, twice: bool = False
    ) -> "RoomScript":
        """A one-event batch; ``twice`` appends the same bytes again, as a redelivery would."""
        cls = e.ListenerJoined if joined else e.ListenerLeft
        self._batch_seq += 1
        batch = PresenceBatch(
            batch_id=uuid.uuid4(),
            edge_id="edge-test",
            batch_seq=self._batch_seq,
            room_id=self.room_id,
            events=(
                cls(
                    event_id=uuid.uuid4(),
                    room_id=self.room_id,
                    actor_id=user,
                    occurred_at=self.at(minutes),
                    data=e.UserData(user_id=user),
                ),
            ),
        )
        record = ("stoa.presence", self.room_id, batch.model_dump_json().encode())
        self.records += [record, record] if twice else [record]
        return self
