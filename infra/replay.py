"""``stoa replay``: read the log and fold it with the same functions the agents use."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from events.archive.store import Archive
from events.deadletter import RawRecord
from events.producer import LogProducer
from events.reader import read_all
from projections.manifest import rebuild as rebuild_manifest
from projections.replay import room_at
from projections.room import SequenceGap, fold
from schemas.codec import UndecodableMessage, decode_event, decode_presence
from schemas.events import Event
from schemas.manifest import RecordingManifest
from schemas.presence import PresenceBatch
from schemas.room import RoomState
from schemas.topics import (
    MEDIA_EVENTS,
    PRESENCE,
    RECORDING_MANIFESTS,
    ROOM_EVENTS,
    ROOM_STATE,
    TRANSCRIPTS,
)


async def room_events(bootstrap: str) -> tuple[dict[str, list[Event]], list[RawRecord]]:
    """Every room's events in log order, plus the records that could not be decoded."""
    rooms: dict[str, list[Event]] = defaultdict(list)
    bad: list[RawRecord] = []
    async for record in read_all(bootstrap, ROOM_EVENTS.name):
        try:
            event = decode_event(record.value or b"")
        except UndecodableMessage:
            bad.append(record)
            continue
        rooms[event.room_id].append(event)
    return rooms, bad


async def replay_room(
    bootstrap: str, room_id: str, *, seq: int | None = None, at: datetime | None = None
) -> RoomState | None:
    rooms, _ = await room_events(bootstrap)
    return room_at(rooms.get(room_id, []), seq=seq, at=at)


async def current_projection(bootstrap: str) -> dict[str, RoomState]:
    """The newest published snapshot per room; unreadable records were dead-lettered live."""
    latest: dict[str, RoomState] = {}
    async for record in read_all(bootstrap, ROOM_STATE.name):
        try:
            state = RoomState.model_validate_json(record.value or b"")
        except ValidationError:
            continue
        if state.room_id not in latest or state.version >= latest[state.room_id].version:
            latest[state.room_id] = state
    return latest


@dataclass(frozen=True)
class Rebuilt:
    states: dict[str, RoomState]
    """Every room whose events fold cleanly, as recomputed (and republished)."""
    differing: list[str]
    """Rooms whose published projection differed from the recomputed state."""
    undecodable: int
    """Records on ``stoa.room-events`` that could not be decoded (dead-lettered live)."""
    gaps: dict[str, str]
    """Rooms whose ``seq`` has a gap, with the reason; their snapshots are left alone."""


async def rebuild(bootstrap: str) -> Rebuilt:
    """Recompute every room from its events and republish the snapshots."""
    rooms, bad = await room_events(bootstrap)
    published = await current_projection(bootstrap)
    rebuilt: dict[str, RoomState] = {}
    gaps: dict[str, str] = {}
    for room_id, events in rooms.items():
        try:
            state = fold(events)
        except SequenceGap as gap:
            gaps[room_id] = str(gap)
            continue
        if state is not None:
            rebuilt[room_id] = state
    differing = sorted(r for r, s in rebuilt.items() if published.get(r) != s)
    producer = await LogProducer(bootstrap, client_id="stoa-replay").start()
    try:
        await producer.send_many(ROOM_STATE.name, [(r, s) for r, s in rebuilt.items()])
    finally:
        await producer.stop()
    return Rebuilt(rebuilt, differing, len(bad), gaps)


def replay_room_from_archive(
    archive: Archive, room_id: str, seq: int | None = None, at: datetime | None = None
) -> RoomState | None:
    """The same fold over the archived copy of the log: works with no broker at all."""
    result = archive.query(
        "SELECT payload FROM stoa.events FINAL WHERE topic = {topic:String} "
        "AND room_id = {room:String} AND record = 1 ORDER BY seq",
        {"topic": ROOM_EVENTS.name, "room": room_id},
    )
    events: list[Event] = []
    for (payload,) in result.rows:
        try:
            events.append(decode_event(payload.encode() if isinstance(payload, str) else payload))
        except UndecodableMessage:
            continue  # it was dead-lettered live; the room's fold never saw it either
    return room_at(events, seq=seq, at=at)


@dataclass(frozen=True)
class ManifestReplay:
    rebuilt: RecordingManifest | None
    """The manifest folded again from the room, media and presence logs."""
    published: RecordingManifest | None
    """The newest one the manifest agent published."""


async def replay_manifest(bootstrap: str, room_id: str) -> ManifestReplay:
    """A room's recording manifest rebuilt from the four logs it is folded from."""
    logs: dict[str, list[bytes]] = defaultdict(list)
    for topic in (ROOM_EVENTS, MEDIA_EVENTS, PRESENCE, TRANSCRIPTS, RECORDING_MANIFESTS):
        async for record in read_all(bootstrap, topic.name):
            if record.key == room_id.encode():
                logs[topic.name].append(record.value or b"")
    rebuilt = rebuild_manifest(
        _decoded(logs[ROOM_EVENTS.name], decode_event),
        _decoded(logs[MEDIA_EVENTS.name], decode_event),
        _decoded(logs[PRESENCE.name], decode_presence),
        _decoded(logs[TRANSCRIPTS.name], decode_event),
    )
    published = [RecordingManifest.model_validate_json(r) for r in logs[RECORDING_MANIFESTS.name]]
    return ManifestReplay(rebuilt, published[-1] if published else None)


T = TypeVar("T", Event, PresenceBatch)


def _decoded(raws: list[bytes], decode: Callable[[bytes], T]) -> list[T]:
    """What decodes; the rest was dead-lettered live, and the agent never saw it either."""
    out: list[T] = []
    for raw in raws:
        try:
            out.append(decode(raw))
        except UndecodableMessage:
            continue
    return out
