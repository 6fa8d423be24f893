"""Dead-letter routing: a message no consumer can use is parked with its reason.

The rule for every consumer of every topic: decode, and on failure write the
original bytes and the error to ``stoa.dead-letter``, then carry on with the
next message. Nothing is dropped silently and one bad record cannot stall a
partition.
"""

import base64
from dataclasses import dataclass

from schemas.base import utcnow
from schemas.deadletter import DeadLetter
from schemas.topics import DEAD_LETTER

TOPIC = DEAD_LETTER.name


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
