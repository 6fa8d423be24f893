"""Dead-letter routing: a message no consumer can use is parked with its reason.

The rule for every consumer of every topic: decode, and on failure write the
original bytes and the error to ``stoa.dead-letter``, then carry on with the
next message. Nothing is dropped silently and one bad record cannot stall a
partition.
"""

import base64
from dataclasses import dataclass
from typing import Protocol

from schemas.base import utcnow
from schemas.deadletter import DeadLetter
from schemas.topics import DEAD_LETTER

TOPIC = DEAD_LETTER.name


class KafkaRecord(Protocol):
    """A record as a Kafka client hands it over; aiokafka's ConsumerRecord is one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int:
        """Milliseconds since the epoch, as Kafka stamps records."""
        ...


@dataclass(frozen=True)
class RawRecord:
    """Where a message came from, independent of the client library that read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    """The record's Kafka timestamp (the producer's append time), when the reader had it."""

    @classmethod
    def of(cls, record: KafkaRecord) -> "RawRecord":
        r = record
        return cls(r.topic, r.partition, r.offset, r.key, r.value, timestamp_ms=r.timestamp)


def dead_letter(record: RawRecord, error: str, consumer: str) -> DeadLetter:
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return DeadLetter(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        consumer=consumer,
        error=error,
        payload_b64=base64.b64encode(record.value or b"").decode(),
        received_at=utcnow(),
    )


def original_bytes(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.payload_b64)
