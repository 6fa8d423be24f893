"""The media plane's journal on ``stoa.media-events``: voice activity, mixing decisions.

The 20 ms mixing clock must never wait for the broker, so events go through a
queue to one sender task that appends them in batches (``acks=all``); if the
broker is slow the queue absorbs it, and past ``MAX_PENDING`` the oldest
activity is dropped and counted (mixing decisions are never dropped).
"""

import asyncio
import contextlib
import logging
import uuid
from typing import Any, Literal

from events.producer import LogProducer
from schemas.base import utcnow
from schemas.events import (
    Event,
    MixingModeChanged,
    MixingModeChangedData,
    SpeakerActivity,
    SpeakerActivityData,
)
from schemas.topics import MEDIA_EVENTS

log = logging.getLogger("stoa.media")

MEDIA_ACTOR = "stoa-media"
"""``actor_id`` of decisions the media plane takes on its own (the mixing mode)."""

MAX_PENDING = 10_000


def speaker_activity(
    room_id: str, user_id: str, talking: bool, offset_seconds: float, level_dbfs: float | None
) -> SpeakerActivity:
    return SpeakerActivity(
        event_id=uuid.uuid4(),
        room_id=room_id,
        actor_id=user_id,
        occurred_at=utcnow(),
        data=SpeakerActivityData(
            user_id=user_id,
            talking=talking,
            offset_seconds=max(0.0, offset_seconds),
            level_dbfs=level_dbfs,
        ),
    )


def mixing_mode_changed(
    room_id: str, mode: Literal["server", "client"], reason: str
) -> MixingModeChanged:
    return MixingModeChanged(
        event_id=uuid.uuid4(),
        room_id=room_id,
        actor_id=MEDIA_ACTOR,
        occurred_at=utcnow(),
        data=MixingModeChangedData(mode=mode, reason=reason),
    )


class MediaEventLog:
    """A non-blocking ``emit`` in front of the producer."""

    def __init__(self, producer: LogProducer) -> None:
        self._producer = producer
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.sent = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stoa.media.events")

    def emit(self, event: Event) -> None:
        if self._queue.qsize() >= MAX_PENDING and isinstance(event, SpeakerActivity):
            self.dropped += 1
            return
        self._queue.put_nowait(event)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                await self._producer.send_many(MEDIA_EVENTS.name, [(e.room_id, e) for e in batch])
                self.sent += len(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker is away: keep the clock running, lose this batch
                log.exception("could not append %d media events", len(batch))
                await asyncio.sleep(0.5)

    async def stop(self, drain_seconds: float = 2.0) -> None:
        """Give queued events a moment to reach the log, then stop."""
        await drain_then_stop(self._queue, self._task, drain_seconds)


async def drain_then_stop(
    queue: "asyncio.Queue[Any]", task: "asyncio.Task[None] | None", seconds: float
) -> None:
    """Let a sender task empty its queue for up to ``seconds``, then cancel it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not queue.empty() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
