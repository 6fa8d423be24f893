"""Each live room's mix on ``stoa.room-audio``, for the speech-to-text workers.

Speech-to-text scales out through the log, not inside the mixing process: the
mixing node appends every room's encoded mix (the listen protocol's records,
the same bytes a WebSocket listener gets, so nothing is encoded twice) keyed by
room, and ASR workers share the rooms as a consumer group (``media.asr.worker``).

A record carries ``BATCH_FRAMES`` frames and, in its ``talking`` header, who the
room's activity tracker says is talking: ``[[seq, [user, ...]], ...]``, the set
at the batch's first frame and at every frame where it changes. These are the
turns ``SpeakerActivity`` events journal, on the audio's own clock, so a worker
attributes a caption to a speaker without joining a second topic. A room's hub
stopping sends an empty record with an ``end`` header: the worker finalises
what it holds instead of waiting for more.

The mixing clock never waits for the broker: records go through a bounded
queue to one sender task; past ``MAX_PENDING`` the oldest are dropped and
counted (captions then skip that audio, which the worker reports as a gap).
"""

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from events.producer import LogProducer
from media.journal import drain_then_stop
from schemas.topics import ROOM_AUDIO

log = logging.getLogger("stoa.media")

BATCH_FRAMES = 10
"""200 ms per record: five appends a second per talking room, and 200 ms of added delay."""
MAX_PENDING = 500
"""Records (100 s of one room, or 1 s of 100 rooms) held while the broker is slow."""

Talking = list[tuple[int, list[str]]]


def talking_header(talking: Talking) -> bytes:
    return json.dumps(talking, separators=(",", ":")).encode()


def parse_talking(raw: bytes | None) -> Talking:
    """The ``talking`` header back as ``[(seq, [user, ...]), ...]``; malformed reads as empty."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
        return [(int(seq), [str(u) for u in users]) for seq, users in value]
    except (ValueError, TypeError):
        return []


@dataclass
class _Batch:
    records: list[bytes] = field(default_factory=list)
    talking: Talking = field(default_factory=list)
    last_talking: frozenset[str] | None = None


@dataclass(frozen=True)
class _Record:
    room_id: str
    value: bytes
    headers: list[tuple[str, bytes]]


class RoomAudioLog:
    """``offer`` a room's frames as the clock makes them; they reach the log in batches."""

    def __init__(self, producer: LogProducer, batch_frames: int = BATCH_FRAMES) -> None:
        self._producer = producer
        self._batch_frames = batch_frames
        self._batches: dict[str, _Batch] = {}
        self._queue: asyncio.Queue[_Record] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stoa.media.room-audio")

    def offer(self, room_id: str, seq: int, record: bytes, talking: Iterable[str]) -> None:
        """One frame of ``room_id``'s mix (a listen-protocol record) and who is talking in it."""
        batch = self._batches.setdefault(room_id, _Batch())
        now = frozenset(talking)
        if now != batch.last_talking or not batch.records:
            batch.talking.append((seq, sorted(now)))
            batch.last_talking = now
        batch.records.append(record)
        if len(batch.records) >= self._batch_frames:
            self._flush(room_id, batch)

    def end(self, room_id: str) -> None:
        """The room's hub stopped: what is batched goes out, then the end marker."""
        batch = self._batches.pop(room_id, None)
        if batch is not None and batch.records:
            self._flush(room_id, batch)
        self._put(_Record(room_id, b"", [("end", b"1")]))

    def _flush(self, room_id: str, batch: _Batch) -> None:
        headers = [("talking", talking_header(batch.talking))]
        self._put(_Record(room_id, b"".join(batch.records), headers))
        batch.records, batch.talking = [], []
        batch.last_talking = None

    def _put(self, record: _Record) -> None:
        if self._queue.qsize() >= MAX_PENDING:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(record)

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                await self._producer.send(
                    ROOM_AUDIO.name, record.room_id, record.value, headers=record.headers
                )
                self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker is away: the room goes on, captions miss this
                self.dropped += 1
                log.exception("could not append room audio of %s", record.room_id)
                await asyncio.sleep(0.5)

    async def stop(self, drain_seconds: float = 1.0) -> None:
        await drain_then_stop(self._queue, self._task, drain_seconds)
