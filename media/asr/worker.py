"""The speech-to-text worker: live rooms' audio in, captions, transcripts and flags out.

Its own process (``stoa asr`` / ``python -m media.asr.worker --bootstrap B``),
one per core on as many hosts as needed. Workers are one Kafka consumer group
(``stoa.asr``) over ``stoa.room-audio``, keyed by room: each room is on one
worker, adding a worker takes partitions over, and a dead worker's rooms move
to the others when its session expires (``SESSION_TIMEOUT_MS``).

Per room (``media.asr.room_stream.RoomStream``): Opus → 16 kHz → the engine's
``Transcriber``; partial and final ``Caption`` messages go to ``stoa.captions``
(the mixing node tells the room's listeners), each final is a
``TranscriptSegment`` on ``stoa.transcripts`` and is screened for policy
categories, each category over its threshold a ``SegmentFlagged`` on
``stoa.moderation``.

One engine thread per worker: rooms take turns on it, fetching never waits
for it. Health is said, not inferred: each room with audio gets a
``CaptionsStatus`` heartbeat every second (``live``, ``behind`` while the
worker skips audio it cannot keep up with, ``failed`` after an engine error),
and each change of a room's health is a ``CaptionsHealthChanged`` event and a
log line. A room's engine error or undecodable record (dead-lettered) never
stops the other rooms.
"""

import argparse
import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from events.admin import ensure_topics
from events.deadletter import TOPIC as DEAD_LETTER_TOPIC
from events.deadletter import RawRecord, dead_letter
from events.producer import LogProducer
from infra.node_args import start_node, until_stopped
from infra.settings import Settings
from media.asr.room_stream import Final, RoomStream
from media.asr.transcriber import Transcriber
from media.audio_out import parse_talking
from media.listen import FramingError, OpusRecord, decode_message
from projections.screening import Screener, Thresholds
from schemas.base import utcnow
from schemas.captions import Caption, CaptionsHealth, CaptionsStatus
from schemas.events import (
    CaptionsHealthChanged,
    CaptionsHealthChangedData,
    SegmentFlagged,
    SegmentFlaggedData,
    TranscriptSegment,
    TranscriptSegmentData,
)
from schemas.topics import CAPTIONS, MEDIA_EVENTS, MODERATION, ROOM_AUDIO, TRANSCRIPTS

log = logging.getLogger("stoa.asr")

GROUP = "stoa.asr"
SESSION_TIMEOUT_MS = 10_000
"""A dead worker's rooms wait this long for another; the mixing node says "captions
unavailable" sooner (``media.captions.UNAVAILABLE_AFTER``)."""
HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 5.0
"""Audio older than this when it arrives (a takeover resuming from committed offsets, a
stalled worker) is skipped: late captions are worth less than current ones."""
BACKLOG_SECONDS = 6.0
"""Audio held for one room beyond this means the engine cannot keep up: skip to the newest."""
KEEP_ON_SKIP_SECONDS = 1.0
BEHIND_FOR_SECONDS = 3.0
"""A room stays ``behind`` this long after the last skip (no flapping per record)."""
FAILED_FOR_SECONDS = 5.0
IDLE_FINISH_SECONDS = 1.5
"""No audio this long (nobody on stage): finalise what the room's stream holds."""
FORGET_SECONDS = 60.0
ACTOR = "stoa-asr"
STOP_SECONDS = 2.0


@dataclass
class Room:
    """One room on this worker: its stream, what arrived for it, how it is doing."""

    stream: RoomStream
    partition: int
    inbox: list[tuple[list[OpusRecord], list[tuple[int, list[str]]], float]] = field(
        default_factory=list
    )
    """(records, talking, age on arrival in seconds) not yet taken."""
    ended: bool = False
    heard_at: float = field(default_factory=time.monotonic)
    finished: bool = True
    """Nothing pending in the stream (finalised since the last audio)."""
    newest_age: float = 0.0
    skipped_at: float = -1e9
    failed_at: float = -1e9
    reason: str = ""
    told: CaptionsHealth | None = None

    def health(self, now: float) -> CaptionsHealth:
        if now - self.failed_at < FAILED_FOR_SECONDS:
            return "failed"
        if now - self.skipped_at < BEHIND_FOR_SECONDS:
            return "behind"
        return "live"

    def lag(self) -> float:
        return self.stream.held_seconds + self.newest_age


class _Revoked(ConsumerRebalanceListener):
    def __init__(self, worker: "AsrWorker") -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.worker.partitions_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "asr %s: rooms of partitions %s",
            self.worker.worker_id,
            sorted(p.partition for p in assigned),
        )


class AsrWorker:
    def __init__(
        self,
        bootstrap: str,
        open_transcriber: Callable[[str], Transcriber],
        screener: Screener | None,
        thresholds: Thresholds,
        worker_id: str,
        group: str = GROUP,
    ) -> None:
        self.bootstrap = bootstrap
        self.open_transcriber = open_transcriber
        self.screener = screener
        self.thresholds = thresholds
        self.worker_id = worker_id
        self.rooms: dict[str, Room] = {}
        self.engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-engine")
        self.producer = LogProducer(bootstrap, f"stoa-asr-{worker_id}")
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=worker_id,
            enable_auto_commit=True,
            auto_commit_interval_ms=1000,
            auto_offset_reset="latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=1000,
            fetch_max_wait_ms=50,
            metadata_max_age_ms=5000,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.captions_sent = 0
        self.segments = 0
        self.flags = 0
        self.dead_letters = 0

    async def start(self) -> None:
        await self.producer.start()
        self.consumer.subscribe([ROOM_AUDIO.name], listener=_Revoked(self))
        await self.consumer.start()
        self._tasks = [
            asyncio.create_task(self._fetch(), name="asr.fetch"),
            asyncio.create_task(self._transcribe(), name="asr.transcribe"),
            asyncio.create_task(self._heartbeat(), name="asr.heartbeat"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(
            asyncio.wait_for(self.consumer.stop(), STOP_SECONDS),
            asyncio.wait_for(self.producer.stop(), STOP_SECONDS),
            return_exceptions=True,  # leaving the group is a courtesy: the session expires
        )
        self.engine.shutdown(wait=False, cancel_futures=True)

    def partitions_revoked(self, partitions: set[int]) -> None:
        """Those rooms are another worker's now: forget them (it resumes from the commit)."""
        for room_id in [r for r, room in self.rooms.items() if room.partition in partitions]:
            del self.rooms[room_id]

    # --- in ---------------------------------------------------------------

    async def _fetch(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=200)
            except asyncio.CancelledError:
                raise
            except Exception:  # broker hiccup: keep consuming instead of dying
                log.exception("asr %s: fetch failed; retrying", self.worker_id)
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                for record in records:
                    await self._arrived(record)
            if batch:
                self._wake.set()

    async def _arrived(self, record: Any) -> None:
        room_id = record.key.decode() if record.key else ""
        headers = dict(record.headers or ())
        room = self.rooms.get(room_id)
        if room is None:
            if headers.get("end") or not room_id:
                return
            opener = functools.partial(self.open_transcriber, room_id)
            room = Room(RoomStream(room_id, opener), record.partition)
            self.rooms[room_id] = room
        if headers.get("end"):
            room.ended = True
            return
        age = max(0.0, time.time() - record.timestamp / 1000)
        if age > STALE_SECONDS:
            room.skipped_at = time.monotonic()
            room.reason = f"skipping audio {age:.0f} s old to catch up"
            return
        try:
            records = decode_message(record.value or b"")
        except FramingError as exc:
            await self._dead_letter(record, str(exc))
            return
        room.inbox.append((records, parse_talking(headers.get("talking")), age))
        room.heard_at = time.monotonic()
        room.ended = False

    async def _dead_letter(self, record: Any, error: str) -> None:
        self.dead_letters += 1
        log.warning(
            "asr %s: dead-lettering room audio @%d: %s", self.worker_id, record.offset, error
        )
        letter = dead_letter(RawRecord.of(record), error, GROUP)
        with contextlib.suppress(Exception):
            await self.producer.send(DEAD_LETTER_TOPIC, letter.key, letter)

    # --- the engine -------------------------------------------------------

    async def _transcribe(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            busy = True
            while busy:
                busy = False
                for room_id, room in list(self.rooms.items()):
                    if self.rooms.get(room_id) is not room:
                        continue  # revoked meanwhile
                    try:
                        busy = await self._step(room) or busy
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # the log or the screen failed: this room waits
                        log.exception("asr %s: room %s step failed", self.worker_id, room_id)

    async def _step(self, room: Room) -> bool:
        """Take what arrived, run the engine over it; True if there was work."""
        if not room.inbox and not room.ended:
            return False
        stream = room.stream
        finals: list[Final] = []
        inbox, room.inbox = room.inbox, []
        for records, talking, age in inbox:
            hole = stream.take(records, talking)
            if hole is not None:  # a long hole: end the stream there, start another
                finals += await self._engine(room, stream.finish, [])
                stream.restart(hole)
                stream.take(records, talking)
            room.newest_age = age
            room.finished = False
        if stream.held_seconds > BACKLOG_SECONDS:
            skipped = stream.drop_held(KEEP_ON_SKIP_SECONDS)
            room.skipped_at = time.monotonic()
            room.reason = f"skipped {skipped:.1f} s of audio to keep up"
            log.warning("asr %s: room %s: %s", self.worker_id, stream.room_id, room.reason)
        if room.ended:
            finals += await self._engine(room, stream.finish, [])
            stream.restart()
            room.finished, room.ended = True, False
            await self._publish(room, [], finals)
            return True
        partials, more = await self._engine(room, stream.transcribe, ([], []))
        await self._publish(room, partials, [*finals, *more])
        return bool(inbox)

    async def _engine(self, room: Room, work: Callable[[], Any], failed: Any) -> Any:
        """``work`` on the engine thread; an engine error restarts this room's stream only
        (and ``failed`` stands in for the result)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.engine, work)
        except Exception as exc:
            room.failed_at = time.monotonic()
            room.reason = f"speech-to-text engine failed: {type(exc).__name__}: {exc}"[:500]
            log.exception("asr %s: room %s: engine failed", self.worker_id, room.stream.room_id)
            room.stream.restart(room.stream.next_seq)
            return failed

    # --- out --------------------------------------------------------------

    async def _publish(self, room: Room, partials: list[Caption], finals: list[Final]) -> None:
        room_id = room.stream.room_id
        for caption in partials:
            await self._caption(room_id, caption)
        for final in finals:
            await self._caption(room_id, final.caption)
            await self._segment(room_id, final)

    async def _caption(self, room_id: str, caption: Caption | CaptionsStatus) -> None:
        await self.producer.send(CAPTIONS.name, room_id, caption.model_dump_json().encode())
        self.captions_sent += 1

    async def _segment(self, room_id: str, final: Final) -> None:
        caption = final.caption
        assert caption.segment_id is not None
        segment = TranscriptSegment(
            event_id=uuid.uuid4(),
            room_id=room_id,
            actor_id=ACTOR,
            occurred_at=utcnow(),
            data=TranscriptSegmentData(
                segment_id=caption.segment_id,
                text=caption.text,
                start_seconds=caption.start,
                end_seconds=caption.end,
                speaker_id=caption.speaker_id,
                confidence=final.confidence,
            ),
        )
        await self.producer.send(TRANSCRIPTS.name, room_id, segment)
        self.segments += 1
        if self.screener is None:
            return
        screener = self.screener
        hits = await asyncio.get_running_loop().run_in_executor(
            self.engine, screener.flags, caption.text, self.thresholds
        )
        for category, score in hits:
            flag = SegmentFlagged(
                event_id=uuid.uuid4(),
                room_id=room_id,
                actor_id=ACTOR,
                occurred_at=utcnow(),
                data=SegmentFlaggedData(
                    flag_id=uuid.uuid4(),
                    segment_id=caption.segment_id,
                    category=category,
                    score=min(max(score, 0.0), 1.0),
                    start_seconds=caption.start,
                    end_seconds=caption.end,
                    speaker_id=caption.speaker_id,
                    text=caption.text[:2000],
                ),
            )
            await self.producer.send(MODERATION.name, room_id, flag)
            self.flags += 1
            log.info(
                "asr %s: room %s flagged %s (%.2f): %r",
                self.worker_id,
                room_id,
                category,
                score,
                caption.text,
            )

    # --- health -----------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            now = time.monotonic()
            for room_id, room in list(self.rooms.items()):
                idle = now - room.heard_at
                if idle > FORGET_SECONDS:
                    del self.rooms[room_id]
                    continue
                if idle > IDLE_FINISH_SECONDS and not room.finished:
                    room.ended = True  # nobody on stage: finalise what is pending
                    self._wake.set()
                if idle > IDLE_FINISH_SECONDS * 2 and room.health(now) == room.told:
                    continue  # a quiet room's news is still told once
                try:
                    await self._tell_health(room_id, room, now)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception(
                        "asr %s: could not send the health of %s", self.worker_id, room_id
                    )

    async def _tell_health(self, room_id: str, room: Room, now: float) -> None:
        health = room.health(now)
        reason = room.reason if health != "live" else ""
        lag = round(room.lag(), 2)
        status = CaptionsStatus(
            status=health, reason=reason, worker_id=self.worker_id, lag_seconds=lag
        )
        await self._caption(room_id, status)
        if health == room.told:
            return
        room.told = health
        log.info("asr %s: room %s captions %s %s", self.worker_id, room_id, health, reason)
        event = CaptionsHealthChanged(
            event_id=uuid.uuid4(),
            room_id=room_id,
            actor_id=self.worker_id,
            occurred_at=utcnow(),
            data=CaptionsHealthChangedData(
                status=health, reason=reason, worker_id=self.worker_id, lag_seconds=lag
            ),
        )
        await self.producer.send(MEDIA_EVENTS.name, room_id, event)


def build_worker(settings: Settings, bootstrap: str, worker_id: str) -> AsrWorker:
    """The worker with the configured engine and moderation screen, models loaded."""
    from media.asr.engines import engine_from_settings
    from streams.moderation_model import DEFAULT_THRESHOLDS, default_screener

    engine = engine_from_settings(settings)
    engine.warm_up()
    screener = default_screener(settings.data_dir)
    screener.score("warm up")  # load the profanity model now, not on the first segment
    return AsrWorker(
        bootstrap, lambda room_id: engine.open(), screener, DEFAULT_THRESHOLDS, worker_id
    )


async def serve(settings: Settings, bootstrap: str, worker_id: str) -> None:
    await ensure_topics(bootstrap, settings.partitions)
    worker = build_worker(settings, bootstrap, worker_id)
    await worker.start()
    print(f"asr {worker_id} transcribing {ROOM_AUDIO.name} ({settings.asr_engine})", flush=True)
    try:
        await until_stopped()
    finally:
        await worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Stoa speech-to-text worker")
    parser.add_argument("--bootstrap", help="Kafka bootstrap (defaults to STOA_KAFKA_BOOTSTRAP)")
    parser.add_argument("--id", help="worker id (default: a fresh one)")
    start = start_node(parser)
    worker_id = start.args.id or f"asr-{uuid.uuid4().hex[:8]}"
    asyncio.run(serve(start.settings, start.bootstrap, worker_id))


if __name__ == "__main__":
    main()
