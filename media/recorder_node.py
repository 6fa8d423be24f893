"""The room recorder: every live room's mix kept in object storage, finished into files at its end.

Its own process (``python -m media.recorder_node --bootstrap B --upstream URL``),
started by ``stoa up`` or alone on any host that reaches the broker, the
upstream and the object store. Why a process of its own, not a listener
inside the mixing node: object-store writes and the minutes of codec work a
finalization takes never share a core or an event loop with the 20 ms mixing
clock; a crashed or slow store costs recordings, never live audio; the
recorder can be SIGKILLed and restarted alone; and recorders scale out
apart from mixing nodes.

* **What it hears.** Like the HLS segmenter it follows ``stoa.room-state``
  and opens a ``Feed`` per live room to ``/v1/rooms/{id}/listen`` on its
  upstream (the mixing node or a relay) with a relay token. It gets the
  room's Opus packets as the mixer encoded them, with their seqs: nothing is
  decoded or encoded while the room is live, and seqs place every packet on
  the room's clock (``media.recording``).
* **Chunks.** Packets are cut into 5 s chunks by seq; a chunk is written as
  one object once its window is over (its last seq, or a later one, came),
  then ``RecordingSegmentStored`` is appended (``RecordingStarted`` before the
  recording's first chunk). A room gone quiet for ``IDLE_FLUSH_SECONDS`` has
  its partial chunk written too, and written again whole later. Each room
  has one writer task, retrying a failed write every ``WRITE_RETRY_SECONDS``
  while newer snapshots of a chunk replace older ones, so a slow store costs
  memory per chunk, not per packet, and never blocks the feed. A crash loses
  at most the chunk being filled.
* **Restart.** A live room found with chunks already stored continues at the
  chunk after the last one: the upstream's ring (5 s) sends what it still
  holds from there, so a quick restart loses nothing. A chunk already stored
  is never replaced by one with fewer packets (it is read and merged first).
* **The host's setting.** A room is recorded only while its state says
  ``recording``: otherwise no feed is open and nothing is stored. Turned off
  mid-room, the feed closes and the partial chunk is written; turned on
  again, frames captured before that moment are dropped (the upstream's
  backfill could hold some from while it was off).
* **End.** The room's end reaches the recorder as the upstream's last
  ``room`` message (or, if the upstream is unreachable then, from the log
  ``ENDED_GRACE_SECONDS`` later): the last partial chunk is written, then the
  chunks are finalized (``media.finalize``, in a worker thread) into the web
  file and the podcast file, both stored, and ``RecordingFinished`` is
  appended; then a marker (``media.recording.finished_key``) records that it
  is done. A room that ended while no recorder ran (within
  ``RECOVER_SECONDS``) is finalized when one starts: chunks and no marker.

Nothing here crashes on a store or broker failure: it logs, waits and tries again.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import aiohttp

from events.admin import ensure_topics
from events.producer import LogProducer
from events.readmodel import RoomReadModel
from infra.node_args import start_node, store_node_arguments, store_node_identity, until_stopped
from infra.objects import ObjectStoreClient, open_store
from infra.settings import Settings
from media.feed import Feed
from media.feed import stop as stop_feed
from media.finalize import finalize
from media.listen import HEADER, OpusRecord
from media.recording import (
    Chunk,
    Chunker,
    ChunkError,
    chunk_index_of,
    chunks_prefix,
    decode_chunk,
    encode_chunk,
    finished_key,
    merge,
    recording_finished,
    recording_started,
    segment_stored,
)
from media.tokens import MediaTokens
from media.wrap import MOD32, unwrap
from schemas.events import Event
from schemas.recording import CHUNK_FRAMES, chunk_key, podcast_key, recording_id_for, web_key
from schemas.room import RoomState
from schemas.topics import MEDIA_EVENTS

log = logging.getLogger("stoa.recorder")

ENDED_GRACE_SECONDS: Final = 5.0
"""After the log says a room ended, how long its feed may still bring the last frames."""
REFUSED_RETRY_SECONDS: Final = 2.0
"""A live room the upstream refused (it lags the log) is asked for again after this."""
WRITE_RETRY_SECONDS: Final = 0.5
IDLE_FLUSH_SECONDS: Final = 5.0
"""A room with no new frame for this long has its partial chunk written (a crash then loses
nothing said before the pause)."""
STOP_FLUSH_SECONDS: Final = 1.0
"""When the process stops, how long a room's writer may take to store what it holds."""
RECOVER_SECONDS: Final = 24 * 3600.0
"""Rooms that ended at most this long before a recorder starts are checked for chunks left
unfinished (one store request each); older ones are left alone."""
FINALIZE_RETRY_SECONDS: Final = (1.0, 2.0, 5.0, 15.0, 60.0)
STORE_CONCURRENCY: Final = 8
CHUNK_TYPE: Final = "application/octet-stream"
NO_CACHE: Final = "no-cache"

Emit = Callable[[Event], Awaitable[None]]
"""Append one event to ``stoa.media-events`` and wait for the broker's acknowledgement."""


def now_us() -> int:
    return time.time_ns() // 1000


def recording_wanted(state: RoomState) -> bool:
    """The host's setting, for a room whose recording was not deleted."""
    return state.recording and not state.recording_deleted


class RoomRecording:
    """One room's frames into chunk objects: the recorder's per-room sink (a ``FeedSink``).

    It never waits on the store: ``records`` cuts chunks and queues the ones
    that are due; one writer task stores them, oldest first, retrying.
    """

    def __init__(
        self, room_id: str, store: ObjectStoreClient, emit: Emit, existing: Iterable[int] = ()
    ) -> None:
        self.room_id = room_id
        self.recording_id = recording_id_for(room_id)
        self.store = store
        self._emit = emit
        self.chunker = Chunker()
        self.existing = set(existing)
        """Chunks an earlier recorder stored, not read yet: merged with before any rewrite."""
        self._announce = not self.existing
        self._base: dict[int, Chunk] = {}
        """Chunks read back from the store: every rewrite of that index keeps their frames."""
        self._written: dict[int, int] = {}
        """Frames stored per chunk by this process."""
        self._queue: dict[int, Chunk] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self.since_us = 0
        """Frames captured before this (µs since the epoch) are not recorded."""
        self.last_record_at = time.monotonic()
        self.writes = 0
        self.failures = 0
        self._writer = asyncio.create_task(self._write_loop(), name=f"stoa.recorder.w.{room_id}")

    def resume_at(self) -> int:
        """The first seq to ask the upstream for: after what was heard or stored, else 0."""
        if self.chunker.last_seq is not None:
            return self.chunker.last_seq + 1
        if self.existing or self._written:
            return (max(self.existing | set(self._written)) + 1) * CHUNK_FRAMES
        return 0

    # --- FeedSink ---------------------------------------------------------

    def records(self, records: list[tuple[int, bytes]]) -> None:
        for wire_seq, framed in records:
            _, _, capture_us, length = HEADER.unpack_from(framed)
            if capture_us < self.since_us:
                continue
            last = self.chunker.last_seq
            seq = unwrap(wire_seq, last if last is not None else self.resume_at(), MOD32)
            record = OpusRecord(seq, capture_us, framed[HEADER.size : HEADER.size + length])
            for chunk in self.chunker.push(record):
                self._enqueue(chunk)
        self.last_record_at = time.monotonic()

    def text(self, message: str, parsed: dict[str, Any]) -> None:
        """Nothing to do: the feed itself sees the room's end."""

    def gap(self, first: int, last: int) -> None:
        """Nothing to do: a hole is silence at finalization (and counted as missing)."""

    # --- writing ----------------------------------------------------------

    def flush(self) -> None:
        """Write the chunk being filled as it is now (it is written again when it grows)."""
        pending = self.chunker.pending()
        if pending is not None:
            self._enqueue(pending)

    def _enqueue(self, chunk: Chunk) -> None:
        index = chunk.index
        fresh = index not in self.existing and index not in self._base
        if fresh and self._written.get(index, 0) >= chunk.frames:
            return  # stored as it is already
        queued = self._queue.get(index)
        if queued is None or queued.frames <= chunk.frames:  # a newer snapshot holds more
            self._queue[index] = chunk
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def close(self, timeout: float | None = None) -> None:
        """Write what is held (the partial chunk too), then stop; ``timeout`` bounds the wait."""
        self.flush()
        self._closing = True
        self._wake.set()
        if timeout is None:
            await asyncio.shield(self._writer)
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
        if not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        """The room's only writer: chunks in index order, each retried until stored."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                index = min(self._queue)
                chunk = self._queue.pop(index)
                try:
                    await self._store(chunk)
                except asyncio.CancelledError:
                    self._requeue(chunk)
                    raise
                except Exception:  # the store or the broker is away: keep it, try again
                    log.exception("room %s: storing chunk %d failed", self.room_id, index)
                    self.failures += 1
                    self._requeue(chunk)
                    await asyncio.sleep(WRITE_RETRY_SECONDS)
            if self._closing:
                return

    def _requeue(self, chunk: Chunk) -> None:
        newer = self._queue.get(chunk.index)
        if newer is None or newer.frames < chunk.frames:
            self._queue[chunk.index] = chunk

    async def _store(self, chunk: Chunk) -> None:
        index = chunk.index
        key = chunk_key(self.recording_id, index)
        if index in self.existing:  # stored before this process: never lose its packets
            old = await self.store.get(key)
            if old is not None:
                try:
                    self._base[index] = decode_chunk(old, index)
                except ChunkError as exc:
                    log.warning(
                        "room %s: chunk %d unreadable, replaced (%s)", self.room_id, index, exc
                    )
            self.existing.discard(index)
        base = self._base.get(index)
        if base is not None:
            merged = merge(base, chunk)
            if merged.frames <= self._written.get(index, base.frames):
                return  # nothing the store does not have
            chunk = merged
        if self._announce:
            await self._emit(recording_started(self.room_id))
            self._announce = False
        data = encode_chunk(chunk)
        await self.store.put(key, data, CHUNK_TYPE, NO_CACHE)
        self._written[index] = chunk.frames
        self.writes += 1
        await self._emit(segment_stored(self.room_id, chunk, len(data)))


class RecorderRoom:
    """One live room: its recording, and a feed while the host's setting says to record."""

    def __init__(self, node: "RecorderNode", room_id: str) -> None:
        self.node = node
        self.room_id = room_id
        self.recording: RoomRecording | None = None
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"stoa.recorder.{room_id}")

    def changed(self) -> None:
        """The room's state changed (the setting, or its end)."""
        self._changed.set()

    def _state(self) -> RoomState | None:
        return self.node.states.rooms.get(self.room_id)

    async def _existing(self) -> set[int]:
        """Chunks of this room already stored (by an earlier recorder), asked until answered."""
        rid = recording_id_for(self.room_id)
        while True:
            try:
                keys = await self.node.store.keys(chunks_prefix(rid))
            except Exception:
                log.exception("room %s: listing stored chunks failed", self.room_id)
                await asyncio.sleep(WRITE_RETRY_SECONDS)
                continue
            return {i for i in map(chunk_index_of, keys) if i is not None}

    async def _run(self) -> None:
        ended = False
        recording: RoomRecording | None = None
        try:
            existing = await self._existing()
            if existing:
                log.info("room %s: %d chunks already stored", self.room_id, len(existing))
            recording = self.recording = RoomRecording(
                self.room_id, self.node.store, self.node.emit, existing
            )
            was_off = False
            while True:
                self._changed.clear()
                state = self._state()
                if state is None or state.status == "ended":
                    ended = True
                    break
                if recording_wanted(state):
                    if was_off:
                        log.info("room %s: recording on", self.room_id)
                        recording.since_us = now_us()
                        was_off = False
                    if await self._follow(recording):
                        ended = True
                        break
                else:
                    if not was_off:
                        log.info("room %s: recording off", self.room_id)
                        recording.flush()
                    was_off = True
                    await self._changed.wait()
        finally:
            if recording is not None:
                await recording.close(None if ended else STOP_FLUSH_SECONDS)
        self.node.room_done(self, ended)

    async def _follow(self, recording: RoomRecording) -> bool:
        """Record until the room ends (True) or should not be recorded now (False)."""
        node = self.node
        feed = Feed(
            node.http,
            self.room_id,
            lambda: [node.upstream],
            node.relay_token,
            recording,
            start_at=recording.resume_at(),
        )
        task = asyncio.create_task(feed.run(), name=f"stoa.recorder.feed.{self.room_id}")
        try:
            while True:
                changed = asyncio.create_task(self._changed.wait())
                done, _ = await asyncio.wait(
                    {task, changed}, timeout=IDLE_FLUSH_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                changed.cancel()
                if task in done:
                    if feed.final_status == 200:
                        return True
                    state = self._state()
                    if state is None or state.status == "ended":
                        return True
                    await asyncio.sleep(REFUSED_RETRY_SECONDS)  # the upstream lags the log
                    return False
                if changed in done:
                    self._changed.clear()
                    state = self._state()
                    if state is None or state.status == "ended":
                        await asyncio.wait({task}, timeout=ENDED_GRACE_SECONDS)
                        return True
                    if not recording_wanted(state):
                        return False
                elif time.monotonic() - recording.last_record_at >= IDLE_FLUSH_SECONDS:
                    recording.flush()
        finally:
            await stop_feed(task)


class RecorderNode:
    """Follows every room's state; records the live ones, finalizes the ended ones."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        upstream: str,
        node_id: str,
        store: ObjectStoreClient,
    ) -> None:
        self.node_id = node_id
        self.upstream = upstream.rstrip("/")
        self.store = store
        self.tokens = MediaTokens(settings.auth_secret, settings.media_token_ttl)
        self.producer = LogProducer(bootstrap, f"stoa-recorder-{node_id}")
        self.states = RoomReadModel(bootstrap, self.producer)
        self.rooms: dict[str, RecorderRoom] = {}
        self.finishing: dict[str, asyncio.Task[None]] = {}
        self.done: set[str] = set()
        """Rooms finished (or found to need nothing): never looked at again."""
        self.http: aiohttp.ClientSession
        self._store_slots = asyncio.Semaphore(STORE_CONCURRENCY)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stoa-finalize")
        self._token = ""
        self._token_at = 0.0

    async def start(self) -> None:
        await self.producer.start()
        self.http = aiohttp.ClientSession()
        await self.states.start()
        await self.states.wait_caught_up()
        for room_id in list(self.states.rooms):
            self._room_changed(room_id)
        self.states.watch(self._room_changed)

    async def stop(self) -> None:
        tasks = [room.task for room in self.rooms.values()] + list(self.finishing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        await self.http.close()
        await self.states.stop()
        await self.producer.stop()

    async def emit(self, event: Event) -> None:
        await self.producer.send(MEDIA_EVENTS.name, event.room_id, event)

    def relay_token(self) -> str:
        if time.monotonic() - self._token_at > 600 or not self._token:
            self._token = self.tokens.issue_relay(self.node_id)
            self._token_at = time.monotonic()
        return self._token

    def _room_changed(self, room_id: str) -> None:
        state = self.states.rooms.get(room_id)
        if state is None or room_id in self.done:
            return
        room = self.rooms.get(room_id)
        if room is not None:
            room.changed()
        elif room_id in self.finishing or state.recording_deleted:
            return
        elif state.status == "live":
            log.info("room %s is live: recording it", room_id)
            self.rooms[room_id] = RecorderRoom(self, room_id)
        elif state.status == "ended" and _recent(state):
            self._finish(room_id)

    def room_done(self, room: RecorderRoom, ended: bool) -> None:
        if self.rooms.get(room.room_id) is room:
            del self.rooms[room.room_id]
        if ended:
            self._finish(room.room_id)

    def _finish(self, room_id: str) -> None:
        task = asyncio.create_task(self._finalize(room_id), name=f"stoa.recorder.end.{room_id}")
        self.finishing[room_id] = task
        task.add_done_callback(lambda _: self.finishing.pop(room_id, None))

    async def _finalize(self, room_id: str) -> None:
        """The ended room's files and ``RecordingFinished``, unless done already; retried."""
        attempt = 0
        while True:
            try:
                await self._finalize_once(room_id)
                break
            except asyncio.CancelledError:
                raise
            except Exception:  # the store, the broker, or a codec: log, wait, try again
                log.exception("room %s: finalizing the recording failed", room_id)
                pause = FINALIZE_RETRY_SECONDS[min(attempt, len(FINALIZE_RETRY_SECONDS) - 1)]
                attempt += 1
                await asyncio.sleep(pause)
        self.done.add(room_id)

    async def _finalize_once(self, room_id: str) -> None:
        rid = recording_id_for(room_id)
        async with self._store_slots:
            if await self.store.head(finished_key(rid)) is not None:
                return
            keys = await self.store.keys(chunks_prefix(rid))
        chunks = await self._read_chunks(keys)
        state = self.states.rooms.get(room_id)
        if not chunks or (state is not None and state.recording_deleted):
            return
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        finished = await loop.run_in_executor(self._executor, finalize, chunks)
        if finished is None:
            return
        if finished.unreadable:
            log.warning("room %s: chunks %s unreadable, silent", room_id, finished.unreadable)
        await self.store.put(web_key(rid), finished.web, "audio/ogg", NO_CACHE)
        await self.store.put(podcast_key(rid), finished.podcast, "audio/mp4", NO_CACHE)
        event = recording_finished(
            room_id, finished.timeline, len(finished.podcast), len(finished.web)
        )
        await self.emit(event)
        await self.store.put(
            finished_key(rid), event.model_dump_json().encode(), "application/json", NO_CACHE
        )
        log.info(
            "room %s: recording %s finished, %.1f s (%.1f s missing) in %.1f s",
            room_id,
            rid,
            finished.timeline.duration_seconds,
            finished.timeline.missing_seconds,
            time.monotonic() - started,
        )

    async def _read_chunks(self, keys: list[str]) -> dict[int, bytes]:
        """Every chunk under ``keys`` by index, a few reads at a time."""

        async def read(key: str) -> tuple[int | None, bytes | None]:
            index = chunk_index_of(key)
            if index is None:
                return None, None
            async with self._store_slots:
                return index, await self.store.get(key)

        found = await asyncio.gather(*(read(key) for key in keys))
        return {index: data for index, data in found if index is not None and data is not None}


def _recent(state: RoomState) -> bool:
    ended = state.ended_at
    return ended is not None and time.time() - ended.timestamp() <= RECOVER_SECONDS


async def serve(
    settings: Settings, bootstrap: str, upstream: str, node_id: str, store_url: str
) -> None:
    await ensure_topics(bootstrap, settings.partitions)
    node = RecorderNode(
        settings, bootstrap, upstream, node_id, ObjectStoreClient(open_store(store_url))
    )
    await node.start()
    log.info("recorder %s: upstream %s, store %s", node_id, upstream, store_url)
    print(f"recorder {node_id} following {upstream} into {store_url}", flush=True)
    try:
        await until_stopped()
    finally:
        await node.stop()


def main() -> None:
    start = start_node(store_node_arguments("Run the Stoa room recorder", "recorder"))
    node_id, store_url = store_node_identity(start, "rec")
    asyncio.run(serve(start.settings, start.bootstrap, start.args.upstream, node_id, store_url))


if __name__ == "__main__":
    main()
