"""Moderation reaches the media: room events become mute, unmute and disconnect.

The enforcer follows ``stoa.room-events`` on every partition (each media
process must see every room's events, so no consumer group) from the end:

* ``SpeakerMuted`` / ``SpeakerUnmuted``: the speaker leaves / rejoins the mix
  and the forwarded tracks from the next packet on;
* ``SpeakerDemoted``, ``CohostRemoved`` of someone not otherwise on stage:
  their WHIP session is closed (they may keep listening);
* ``ParticipantRemoved``: every session of theirs (WHIP, WHEP, WebSocket) is
  closed;
* ``RoomEnded``: every session of the room is closed and the hub stopped.

The delay from the event's append to the log (its Kafka timestamp, stamped by
the room writer as it produces) to the moment it took effect is a Prometheus
histogram (``stoa_media_enforcement_seconds``). Events replayed onto a new
session have no record at hand and are measured from ``occurred_at`` (the
command's issue time), an upper bound.

Publishing races the follower: the HTTP layer authorizes a WHIP request
against the read model at some version, and an event after that version may
have been handled before the session existed. The enforcer keeps each room's
recent events so ``replay`` can apply them to the new session.
"""

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from media.room import RoomHubs
from media.sfu import Sfu
from media.whep import WhepServer
from schemas.codec import decode_event
from schemas.events import (
    CohostRemoved,
    Event,
    ParticipantRemoved,
    RoomEnded,
    SpeakerDemoted,
    SpeakerMuted,
    SpeakerUnmuted,
)
from schemas.topics import ROOM_EVENTS

log = logging.getLogger("stoa.media")

RECENT_EVENTS = 64
"""Events kept per room for ``replay`` (far more than can race one WHIP request)."""
RECENT_ROOMS = 10_000
"""Rooms whose recent events are kept, least recently active dropped first."""

Observe = Callable[[str, float], None]
"""``(action, seconds)``: one enforcement and its delay."""


@dataclass(frozen=True)
class Target:
    room_id: str
    user_id: str | None


class Enforcer:
    def __init__(
        self,
        bootstrap: str,
        producer: LogProducer,
        hubs: RoomHubs,
        sfu: Sfu,
        whep: WhepServer,
        observe: Observe,
    ) -> None:
        self.hubs, self.sfu, self.whep, self._observe = hubs, sfu, whep, observe
        self.recent: OrderedDict[str, deque[Event]] = OrderedDict()
        self._follower = TopicFollower(
            bootstrap, [ROOM_EVENTS.name], self._on_record, producer, "stoa.media.enforcer"
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def _on_record(self, record: RawRecord) -> None:
        event = decode_event(record.value or b"")
        if isinstance(event, RoomEnded):
            self.recent.pop(event.room_id, None)
        else:
            self.recent.setdefault(event.room_id, deque(maxlen=RECENT_EVENTS)).append(event)
            self.recent.move_to_end(event.room_id)
            if len(self.recent) > RECENT_ROOMS:  # rooms abandoned without an end
                self.recent.popitem(last=False)
        appended = record.timestamp_ms / 1000 if record.timestamp_ms else None
        await self.apply(event, appended_at=appended)

    async def apply(
        self, event: Event, only_user: str | None = None, appended_at: float | None = None
    ) -> None:
        """Enforce one event (on ``only_user``'s sessions alone, when replaying)."""
        user_id = getattr(getattr(event, "data", None), "user_id", None)
        if only_user is not None and user_id != only_user:
            return
        room_id = event.room_id
        hub = self.hubs.get(room_id)
        if isinstance(event, SpeakerMuted | SpeakerUnmuted):
            if hub is not None and user_id in hub.speakers:
                hub.set_muted(str(user_id), isinstance(event, SpeakerMuted))
                self._took_effect(
                    event, appended_at, "mute" if isinstance(event, SpeakerMuted) else "unmute"
                )
        elif isinstance(event, SpeakerDemoted | CohostRemoved):
            if self.sfu.detach_user(room_id, str(user_id)):
                self._took_effect(event, appended_at, "disconnect")
                await self.sfu.close_detached()
        elif isinstance(event, ParticipantRemoved):
            detached = self.sfu.detach_user(room_id, str(user_id))
            if hub is not None:
                hub.close_listeners(str(user_id))
            if detached:
                self._took_effect(event, appended_at, "disconnect")
            await self.whep.end_user(room_id, str(user_id))
            await self.sfu.close_detached()
        elif isinstance(event, RoomEnded) and only_user is None:
            for session in self.sfu.in_room(room_id):
                self.sfu.detach(session.id)
            if hub is not None:
                ended = {"status": "ended", "ended_at": event.occurred_at.isoformat()}
                hub.close_listeners(final=ended)
                self._took_effect(event, appended_at, "end")
            self.hubs.release(room_id, ended=True)
            await self.whep.end_room(room_id)
            await self.sfu.close_detached()

    def replay(self, room_id: str, user_id: str, after_version: int) -> list[Event]:
        """Events newer than the state a session was authorized against, for that user."""
        return [
            e
            for e in self.recent.get(room_id, ())
            if e.seq is not None
            and e.seq > after_version
            and getattr(getattr(e, "data", None), "user_id", None) == user_id
        ]

    def _took_effect(self, event: Event, appended_at: float | None, action: str) -> None:
        since = appended_at or event.occurred_at.timestamp()
        delay = time.time() - since
        self._observe(action, max(0.0, delay))
        log.info("%s (%s) in %s after %.1f ms", action, event.type, event.room_id, delay * 1e3)
