"""Live captions from ``stoa.captions`` to the listeners of each room this node mixes.

Every mixing node follows the whole topic (a room's captions must reach the
node where its hub is) and tells a room's listeners each caption as the worker
wrote it; relays pass the text on unchanged, so one message serves the WebSocket
listeners of the whole tree.

Health is what listeners see of it: a ``captions`` status message when it
changes (and to each newcomer). Workers send their verdict each second
(``live``, ``behind``, ``failed``); the mixing node adds the one no worker can
send: a room that has been audible for ``UNAVAILABLE_AFTER`` seconds without a
word from any worker is ``unavailable`` (every worker is dead, or none runs),
journalled as ``CaptionsHealthChanged``. The next word from a worker (one
taking the room over) makes it ``live`` again.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from media.journal import MEDIA_ACTOR, MediaEventLog
from media.room import RoomHubs
from schemas.base import utcnow
from schemas.captions import (
    Caption,
    CaptionMessage,
    CaptionsHealth,
    CaptionsStatus,
    caption_message,
    listener_text,
)
from schemas.events import CaptionsHealthChanged, CaptionsHealthChangedData
from schemas.topics import CAPTIONS

UNAVAILABLE_AFTER = 5.0
"""Seconds of room audio without a word from a worker before listeners are told."""
WATCH_EVERY = 1.0
NO_WORKER = "no speech-to-text worker is transcribing this room"


class CaptionRelay:
    def __init__(
        self,
        bootstrap: str,
        producer: LogProducer,
        hubs: RoomHubs,
        journal: MediaEventLog,
        observe: Callable[[str, CaptionsHealth], None] = lambda room_id, health: None,
    ) -> None:
        self.hubs = hubs
        self.journal = journal
        self.observe = observe
        self.heard: dict[str, float] = {}
        """Room → when a worker last said something of it (monotonic)."""
        self.health: dict[str, CaptionsHealth] = {}
        """Room → the health its listeners were last told."""
        self._follower = TopicFollower(
            bootstrap, [CAPTIONS.name], self._on_record, producer, "stoa.media.captions"
        )
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._follower.start()
        self._watch = asyncio.create_task(self._watching(), name="stoa.media.captions.watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._follower.stop()

    def count(self, health: CaptionsHealth) -> int:
        """Rooms whose listeners were last told ``health`` (a metric)."""
        return sum(told == health for told in self.health.values())

    def _on_record(self, record: RawRecord) -> None:
        message: CaptionMessage = caption_message.validate_json(record.value or b"")
        room_id = (record.key or b"").decode()
        self.heard[room_id] = time.monotonic()
        if isinstance(message, CaptionsStatus):
            self._tell_health(room_id, message.status, message.reason)
            return
        if self.health.get(room_id) in (None, "unavailable"):
            self._tell_health(room_id, "live", "")
        self._tell(room_id, message)

    def _tell(self, room_id: str, message: Caption) -> None:
        hub = self.hubs.get(room_id)
        if hub is not None:
            hub.tell(listener_text(message))

    def _tell_health(self, room_id: str, health: CaptionsHealth, reason: str) -> None:
        if self.health.get(room_id) == health:
            return
        self.health[room_id] = health
        self.observe(room_id, health)
        text = listener_text(CaptionsStatus(status=health, reason=reason))
        hub = self.hubs.get(room_id)
        if hub is not None:
            hub.captions = text
            hub.tell(text)

    async def _watching(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """Declare ``unavailable`` the audible rooms no worker has spoken of lately."""
        for room_id, hub in list(self.hubs.rooms.items()):
            audible = hub.audible_since
            if audible is None or now - audible < UNAVAILABLE_AFTER:
                continue
            if now - self.heard.get(room_id, -1e9) < UNAVAILABLE_AFTER:
                continue
            if self.health.get(room_id) == "unavailable":
                continue
            self._tell_health(room_id, "unavailable", NO_WORKER)
            self.journal.emit(
                CaptionsHealthChanged(
                    event_id=uuid.uuid4(),
                    room_id=room_id,
                    actor_id=MEDIA_ACTOR,
                    occurred_at=utcnow(),
                    data=CaptionsHealthChangedData(status="unavailable", reason=NO_WORKER),
                )
            )
        for room_id in [r for r in self.health if r not in self.hubs.rooms]:
            del self.health[room_id]
            self.heard.pop(room_id, None)
