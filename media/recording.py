"""A room's recording as chunks: framing, cutting the stream into chunks, assembling them again.

Pure functions and small value types, no I/O: the recorder (``media.recorder_node``)
stores what they produce, finalization (``media.finalize``) reads it back,
and the tests check both sides with the same code.

* **Chunks follow seqs.** The mixing node numbers its 20 ms frames from the
  room's start (seq 0 = the room's first 20 ms). Chunk ``i`` holds seqs
  ``[250·i, 250·i + 250)`` (``schemas.recording.CHUNK_FRAMES``: 5 s), so a
  chunk's place in the room is its name, a restarted recorder cuts the same
  boundaries, and a lost chunk is a known 5 s hole rather than a shift of
  everything after it.
* **Framing.** A chunk object is ``MAGIC``, its index (8 bytes, big-endian),
  then the frames as listen-protocol records (``media.listen``: kind, seq,
  capture time, length, Opus packet), in seq order. The same encoding as the
  wire, so the packets are stored exactly as the room sent them, with the
  capture time that maps a seq to the wall clock.
* **Assembly.** ``assemble`` lays every stored frame on the room's timeline
  from seq 0 to the last stored seq; every seq no chunk holds (before the
  first audio, a lost chunk, recording turned off) is Opus's 20 ms silent
  frame, so the finished file's time is the room's time and chapter or
  speaker-turn offsets need no translation.
* **Events.** Every event the recorder appends has an id derived from the
  recording and what it says, so a restarted recorder that says it again
  adds nothing for consumers (they drop repeats by ``event_id``).
"""

import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from media.listen import HEADER, KIND_OPUS, OpusRecord, encode_record
from media.segmenter import SILENCE
from media.wrap import MOD32, unwrap
from schemas.base import utcnow
from schemas.events import (
    RecordingData,
    RecordingFinished,
    RecordingFinishedData,
    RecordingSegmentStored,
    RecordingSegmentStoredData,
    RecordingStarted,
)
from schemas.recording import (
    CHUNK_FRAMES,
    chunk_key,
    podcast_key,
    prefix,
    recording_id_for,
    web_key,
)

FRAME_SECONDS: Final = 0.02
MAGIC: Final = b"STOAREC1"
_INDEX: Final = struct.Struct(">Q")
RECORDER_ACTOR: Final = "stoa-recorder"
"""``actor_id`` of the recorder's events (like ``media.journal.MEDIA_ACTOR``)."""
SILENT_FRAME: Final = SILENCE
"""What a seq no chunk holds becomes: 20 ms of digital silence as libopus encodes it."""


class ChunkError(ValueError):
    """A stored chunk that does not follow the framing (or is not the chunk its key names)."""


@dataclass(frozen=True)
class Chunk:
    """The frames of chunk ``index`` held so far, in seq order (seqs unwrapped)."""

    index: int
    records: tuple[OpusRecord, ...]

    @property
    def first_seq(self) -> int:
        """The window's first seq (whether or not it was heard)."""
        return self.index * CHUNK_FRAMES

    @property
    def frames(self) -> int:
        return len(self.records)

    @property
    def end_seq(self) -> int:
        """One past the last seq held (the window's start for an empty chunk)."""
        return self.records[-1].seq + 1 if self.records else self.first_seq

    @property
    def complete(self) -> bool:
        return self.frames == CHUNK_FRAMES

    @property
    def start_seconds(self) -> float:
        return self.first_seq * FRAME_SECONDS

    @property
    def duration_seconds(self) -> float:
        """From the window's start to the end of its last frame."""
        return (self.end_seq - self.first_seq) * FRAME_SECONDS


def chunk_index(seq: int) -> int:
    return seq // CHUNK_FRAMES


def chunk_index_of(key: str) -> int | None:
    """The index a chunk key names (``…/chunks/00000012.rec`` → 12), None for another key."""
    name = key.rsplit("/", 1)[-1]
    if "/chunks/" not in key or not name.endswith(".rec"):
        return None
    stem = name[: -len(".rec")]
    return int(stem) if stem.isdigit() else None


def chunks_prefix(recording_id: uuid.UUID) -> str:
    return f"{prefix(recording_id)}chunks/"


def finished_key(recording_id: uuid.UUID) -> str:
    """A marker written once ``RecordingFinished`` is on the log: the recording needs no more work.

    It holds that event's JSON. A recorder starting after a crash finalizes an
    ended room's chunks unless this is there.
    """
    return f"{prefix(recording_id)}finished.json"


# --- framing ----------------------------------------------------------------


def encode_chunk(chunk: Chunk) -> bytes:
    """The object stored at ``chunk_key``: magic, index, then the listen-protocol records."""
    parts = [MAGIC, _INDEX.pack(chunk.index)]
    parts.extend(encode_record(r.seq, r.capture_us, r.payload) for r in chunk.records)
    return b"".join(parts)


def decode_chunk(data: bytes, index: int) -> Chunk:
    """The chunk stored as ``data``: chunk ``index``, its frames in order and in its window."""
    head = len(MAGIC) + _INDEX.size
    if len(data) < head or not data.startswith(MAGIC):
        raise ChunkError("not a recording chunk (no magic)")
    (stored_index,) = _INDEX.unpack_from(data, len(MAGIC))
    if stored_index != index:
        raise ChunkError(f"the object holds chunk {stored_index}, not {index}")
    first = index * CHUNK_FRAMES
    records: list[OpusRecord] = []
    offset = head
    last: int | None = None
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            raise ChunkError(f"{len(data) - offset} trailing bytes are shorter than a header")
        kind, wire_seq, capture_us, length = HEADER.unpack_from(data, offset)
        offset += HEADER.size
        if kind != KIND_OPUS or len(data) - offset < length:
            raise ChunkError(f"a record of kind {kind} and {length} bytes does not fit")
        seq = unwrap(wire_seq, first, MOD32)
        if not first <= seq < first + CHUNK_FRAMES or (last is not None and seq <= last):
            raise ChunkError(f"seq {seq} is out of order or outside chunk {index}")
        records.append(OpusRecord(seq, capture_us, bytes(data[offset : offset + length])))
        offset += length
        last = seq
    return Chunk(index, tuple(records))


def merge(held: Chunk, more: Chunk) -> Chunk:
    """Every frame of both (same index); for a seq in both, ``held``'s copy (they are the same)."""
    if held.index != more.index:
        raise ValueError(f"cannot merge chunk {held.index} with chunk {more.index}")
    by_seq = {r.seq: r for r in more.records}
    by_seq.update((r.seq, r) for r in held.records)
    return Chunk(held.index, tuple(by_seq[seq] for seq in sorted(by_seq)))


# --- cutting the stream -----------------------------------------------------


class Chunker:
    """The room's frames, in seq order, cut into chunks.

    ``push`` returns a chunk once its window is over: its last seq arrived, or
    a seq of a later chunk did (the room may skip ahead: a hub reopened after
    everyone left continues from the room's clock). The chunk being filled is
    kept (``pending``) until then, so a partial chunk written early (the room
    went quiet, recording was turned off) is written again whole later.
    """

    def __init__(self) -> None:
        self._index: int | None = None
        self._records: list[OpusRecord] = []
        self.last_seq: int | None = None

    def push(self, record: OpusRecord) -> list[Chunk]:
        """Take one frame; returns the chunks whose windows it closed (usually none)."""
        if self.last_seq is not None and record.seq <= self.last_seq:
            return []  # a frame already taken
        index = chunk_index(record.seq)
        done: list[Chunk] = []
        if self._index is not None and index != self._index and self._records:
            done.append(Chunk(self._index, tuple(self._records)))
            self._records = []
        self._index = index
        self._records.append(record)
        self.last_seq = record.seq
        if record.seq % CHUNK_FRAMES == CHUNK_FRAMES - 1:  # the window's last seq: complete now
            done.append(Chunk(index, tuple(self._records)))
            self._records = []
        return done

    def pending(self) -> Chunk | None:
        """The chunk being filled, as it is now (None if none is)."""
        if self._index is None or not self._records:
            return None
        return Chunk(self._index, tuple(self._records))


# --- assembly ---------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """A recording laid on the room's clock: seq 0 .. ``frames - 1``, each held or silent."""

    packets: dict[int, bytes]
    frames: int

    @property
    def missing(self) -> int:
        """Seqs no chunk holds: silence in the finished files."""
        return self.frames - len(self.packets)

    @property
    def duration_seconds(self) -> float:
        return self.frames * FRAME_SECONDS

    @property
    def missing_seconds(self) -> float:
        return self.missing * FRAME_SECONDS

    def payloads(self) -> Iterator[bytes]:
        """One Opus packet per seq from 0, the silent frame where none was stored."""
        for seq in range(self.frames):
            yield self.packets.get(seq, SILENT_FRAME)


def assemble(chunks: Iterable[Chunk]) -> Timeline:
    """Every stored frame on the room's timeline, from seq 0 to the last stored seq."""
    packets: dict[int, bytes] = {}
    for chunk in chunks:
        for record in chunk.records:
            packets.setdefault(record.seq, record.payload)
    frames = max(packets) + 1 if packets else 0
    return Timeline(packets, frames)


# --- events -----------------------------------------------------------------


def event_id(recording_id: uuid.UUID, kind: str, *parts: int) -> uuid.UUID:
    """The id of what the recorder says about ``recording_id``: the same words, the same id."""
    return uuid.uuid5(recording_id, "/".join([kind, *(str(p) for p in parts)]))


def recording_started(room_id: str) -> RecordingStarted:
    rid = recording_id_for(room_id)
    return RecordingStarted(
        event_id=event_id(rid, "started"),
        room_id=room_id,
        actor_id=RECORDER_ACTOR,
        occurred_at=utcnow(),
        data=RecordingData(recording_id=rid),
    )


def segment_stored(room_id: str, chunk: Chunk, size: int) -> RecordingSegmentStored:
    """Chunk stored; its id names the frames it holds, so a fuller rewrite is news, a repeat not."""
    rid = recording_id_for(room_id)
    return RecordingSegmentStored(
        event_id=event_id(rid, "segment", chunk.index, chunk.frames),
        room_id=room_id,
        actor_id=RECORDER_ACTOR,
        occurred_at=utcnow(),
        data=RecordingSegmentStoredData(
            recording_id=rid,
            index=chunk.index,
            uri=chunk_key(rid, chunk.index),
            start_seconds=chunk.start_seconds,
            duration_seconds=round(chunk.duration_seconds, 3),
            bytes=size,
        ),
    )


def recording_finished(
    room_id: str, timeline: Timeline, podcast_bytes: int, web_bytes: int
) -> RecordingFinished:
    rid = recording_id_for(room_id)
    return RecordingFinished(
        event_id=event_id(rid, "finished"),
        room_id=room_id,
        actor_id=RECORDER_ACTOR,
        occurred_at=utcnow(),
        data=RecordingFinishedData(
            recording_id=rid,
            uri=podcast_key(rid),
            duration_seconds=round(timeline.duration_seconds, 3),
            format="m4a",
            bytes=podcast_bytes,
            web_uri=web_key(rid),
            web_bytes=web_bytes,
            missing_seconds=round(timeline.missing_seconds, 3),
        ),
    )
