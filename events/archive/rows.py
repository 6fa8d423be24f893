"""From a Kafka record to rows of ``stoa.events``: pure, so the mapping is testable alone.

Every record becomes one row that keeps its exact key and bytes (``record = 1``):
that row is what a restore republishes. A presence batch also unpacks into one
row per listener join/leave (``record = 0``), because analysts ask about
listeners, not about batches.

The row id is what deduplicates redeliveries. Envelopes have an ``event_id``,
commands a ``command_id`` and presence batches a ``batch_id``; every other
record (snapshots, results, dead letters, bytes nobody could decode) gets an
id hashed from its position and content, so a redelivery of the same record
collapses and a different record never does.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from events.deadletter import KafkaRecord

COLUMNS: tuple[str, ...] = (
    "event_id",
    "type",
    "version",
    "room_id",
    "actor_id",
    "seq",
    "occurred_at",
    "data",
    "topic",
    "partition",
    "offset",
    "key",
    "payload",
    "record",
    "produced_at",
    "ingested_at",
)

ID_FIELD = {"stoa.commands": "command_id", "stoa.presence": "batch_id"}
"""Topics whose records carry their own id under another name than ``event_id``."""

TIME_FIELDS = ("occurred_at", "issued_at", "received_at", "updated_at")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    """Milliseconds since the epoch, as Kafka stamps records."""


def position_id(record: KafkaRecord, member: int = 0) -> uuid.UUID:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{record.topic}\0{record.partition}\0{record.offset}\0{member}\0".encode())
    digest.update(record.key or b"")
    digest.update(b"\0")
    digest.update(record.value or b"")
    return uuid.UUID(bytes=digest.digest(), version=4)


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _time(doc: dict[str, Any], fallback: datetime) -> datetime:
    for name in TIME_FIELDS:
        value = doc.get(name)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seq(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _origin(
    record: KafkaRecord,
    key: str,
    payload: bytes,
    produced: datetime,
    ingested: datetime,
    *,
    whole: bool,
) -> tuple[Any, ...]:
    """Where a row came from; ``whole`` rows carry the record's bytes, for restore."""
    return (
        record.topic,
        record.partition,
        record.offset,
        key,
        payload,
        1 if whole else 0,
        produced,
        ingested,
    )


def _member_row(
    doc: dict[str, Any], index: int, record: KafkaRecord, produced: datetime, ingested: datetime
) -> tuple[Any, ...]:
    """A row for an event unpacked from a batch: no bytes of its own to restore."""
    return (
        _uuid(doc.get("event_id")) or position_id(record, index + 1),
        _text(doc.get("type")),
        doc.get("version", 1) if isinstance(doc.get("version"), int) else 1,
        _text(doc.get("room_id")),
        _text(doc.get("actor_id")),
        _seq(doc.get("seq")),
        _time(doc, produced),
        orjson.dumps(doc.get("data", {})).decode(),
        *_origin(record, "", b"", produced, ingested, whole=False),
    )


def rows_of(record: KafkaRecord, ingested: datetime) -> list[tuple[Any, ...]]:
    """The rows one record becomes; never raises, whatever the bytes are."""
    produced = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    key = (record.key or b"").decode("utf-8", "replace")
    try:
        doc = orjson.loads(record.value) if record.value else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return [
            (
                position_id(record),
                "Undecodable",
                0,
                key if record.topic != "stoa.dead-letter" else "",
                "",
                None,
                produced,
                "{}",
                *_origin(record, key, record.value or b"", produced, ingested, whole=True),
            )
        ]
    id_field = ID_FIELD.get(record.topic, "event_id")
    envelope = "data" in doc and "event_id" in doc
    data = doc.get("data", {}) if envelope else doc
    version = doc.get("version", 1) if envelope else 0
    row = (
        _uuid(doc.get(id_field)) or position_id(record),
        _text(doc.get("type")) or record.topic.removeprefix("stoa."),
        version if isinstance(version, int) and not isinstance(version, bool) else 1,
        _text(doc.get("room_id")) or (key if record.topic != "stoa.dead-letter" else ""),
        _text(doc.get("actor_id")),
        _seq(doc.get("seq")) if envelope else None,
        _time(doc, produced),
        orjson.dumps(data).decode(),
        *_origin(record, key, record.value or b"", produced, ingested, whole=True),
    )
    rows = [row]
    members = doc.get("events") if doc.get("type") == "PresenceBatch" else None
    if isinstance(members, list):
        rows += [
            _member_row(m, i, record, produced, ingested)
            for i, m in enumerate(members)
            if isinstance(m, dict)
        ]
    return rows
