"""Moderation reaches the media: room events become mute, unmute and disconnect.

The enforcer follows ``stoa.room-events`` on every partition (each media
process must see every room's events, so no consumer group) from the end,
and carries out ``projections.enforcement.media_action`` of each event on
this process's sessions:

* ``SetMuted``: the speaker leaves / rejoins the mix and the forwarded
  tracks from the next packet on;
* ``LeaveStage`` (demoted, co-host rights taken back): their WHIP session is
  closed; they may keep listening;
* ``Expel`` (removed): every session of theirs, publishing and listening;
* ``CloseRoom``: every session of the room, and its hub stops.

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
from projections.enforcement import CloseRoom, Expel, LeaveStage, SetMuted, concerns, media_action
from schemas.codec import decode_event
from schemas.events import Event, RoomEnded
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
        observe: Observe,
    ) -> None:
        self.hubs, self.sfu, self._observe = hubs, sfu, observe
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
        action = media_action(event)
        if action is None or (only_user is not None and not concerns(action, only_user)):
            return
        room_id = event.room_id
        hub = self.hubs.get(room_id)
        match action:
            case SetMuted(user_id, muted):
                if hub is not None and hub.set_muted(user_id, muted):
                    self._took_effect(event, appended_at, "mute" if muted else "unmute")
            case LeaveStage(user_id):
                if self.sfu.detach_user(room_id, user_id):
                    self._took_effect(event, appended_at, "disconnect")
            case Expel(user_id):
                published = self.sfu.detach_user(room_id, user_id)
                listened = hub.close_listeners(user_id) if hub is not None else 0
                if published or listened:
                    self._took_effect(event, appended_at, "disconnect")
            case CloseRoom(ended_at):
                self.sfu.detach_room(room_id)
                if hub is not None:
                    hub.close_listeners(final={"status": "ended", "ended_at": ended_at.isoformat()})
                    self._took_effect(event, appended_at, "end")
                self.hubs.release(room_id, ended=True)
        await self.sfu.close_detached()

    def replay(self, room_id: str, user_id: str, after_version: int) -> list[Event]:
        """Events newer than the state a session was authorized against that concern its user."""
        return [
            event
            for event in self.recent.get(room_id, ())
            if (event.seq or 0) > after_version
            and (action := media_action(event)) is not None
            and concerns(action, user_id)
        ]

    def _took_effect(self, event: Event, appended_at: float | None, action: str) -> None:
        since = appended_at or event.occurred_at.timestamp()
        delay = time.time() - since
        self._observe(action, max(0.0, delay))
        log.info("%s (%s) in %s after %.1f ms", action, event.type, event.room_id, delay * 1e3)
