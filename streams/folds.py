"""The worker's projections of the shared logs, one face over every kind.

Each fold keeps one table from the records of the topics it names, and says
what changed on its own output topic. One agent (``streams.agents``) reads all
of those topics and hands each decoded record to the folds that want it.

One reader per topic is not only cheaper (a room event used to be decoded by
three agents). Faust counts a record read by several agents until every one of
them has taken it, and a rebalance empties the agents' buffers: a record that
one agent had taken and another still had buffered stayed counted for ever, so
the worker waited for it without end and every partition it held stalled
(seen in ``tests/test_rebalance.py`` about once in fifteen runs under load).
"""

import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel

from projections import flags as f
from projections import manifest as m
from projections import presence as p
from projections.tiers import Thresholds
from schemas import topics as t
from schemas.base import utcnow
from schemas.events import Event
from schemas.manifest import RecordingManifest
from schemas.presence import PresenceBatch, PresenceCounts

Fact = PresenceBatch | Event
Send = Callable[[t.TopicSpec, str, BaseModel], Awaitable[Any]]


class Fold(Protocol):
    sources: tuple[t.TopicSpec, ...]

    async def apply(self, fact: Fact) -> None:
        """Fold one record of a source topic into the table; publish what changed."""


class Roster:
    """Who is in a room, kept in the table as a few buckets of user ids per room.

    One table key per listener made every join a changelog record (~100 us of
    Faust each, measured); one key per room would rewrite the whole audience on
    every batch. Buckets bound both: a batch rewrites at most ``BUCKETS`` small sets.
    """

    BUCKETS = 16

    def __init__(self, table: Any, room_id: str) -> None:
        self._table = table
        self._room = room_id
        self._loaded: dict[str, set[str]] = {}

    def _key(self, user: str) -> str:
        return f"{self._room}#{zlib.crc32(user.encode()) % self.BUCKETS}"

    def _bucket(self, user: str) -> set[str]:
        key = self._key(user)
        if key not in self._loaded:
            self._loaded[key] = set(self._table.get(key) or ())
        return self._loaded[key]

    def __contains__(self, user: object) -> bool:
        return isinstance(user, str) and user in self._bucket(user)

    def apply(self, changes: p.MembershipChanges) -> None:
        touched: dict[str, set[str]] = {}
        for user, present in changes.items():
            bucket = self._bucket(user)
            (bucket.add if present else bucket.discard)(user)
            touched[self._key(user)] = bucket
        for key, bucket in touched.items():
            self._table[key] = sorted(bucket)


class PresenceFold:
    """Batched joins/leaves (and removals, room ends) into listener counts and tiers."""

    sources: tuple[t.TopicSpec, ...] = (t.PRESENCE, t.ROOM_EVENTS)

    def __init__(self, counts: Any, members: Any, thresholds: Thresholds, send: Send) -> None:
        self._counts = counts
        self._members = members
        self._thresholds = thresholds
        self._send = send

    async def apply(self, fact: Fact) -> None:
        room_id = fact.room_id
        state = p.PresenceState.model_validate(self._counts.get(room_id) or {"room_id": room_id})
        roster = Roster(self._members, room_id)
        if isinstance(fact, PresenceBatch):
            new_state, changes = p.fold_batch(state, fact, roster.__contains__)
            at = fact.events[-1].occurred_at
        else:
            new_state, changes = p.fold_room_event(state, fact, roster.__contains__)
            at = fact.occurred_at
        new_state, moved = p.follow_tier(new_state, self._thresholds, at)
        if new_state == state:
            return
        roster.apply(changes)
        if moved is not None:  # before the counts: the media plane acts on either
            await self._send(t.MEDIA_EVENTS, room_id, moved)
        self._counts[room_id] = new_state.model_dump(mode="json")
        await self._send(
            t.PRESENCE_COUNTS,
            room_id,
            PresenceCounts(
                room_id=room_id,
                listener_count=new_state.listener_count,
                peak_listeners=new_state.peak_listeners,
                tier=new_state.tier,
                updated_at=utcnow(),
            ),
        )


class ManifestFold:
    """The room, media, presence and transcript logs into each room's recording manifest."""

    sources: tuple[t.TopicSpec, ...] = (t.ROOM_EVENTS, t.MEDIA_EVENTS, t.PRESENCE, t.TRANSCRIPTS)

    def __init__(self, manifests: Any, send: Send) -> None:
        self._manifests = manifests
        self._send = send

    async def apply(self, fact: Fact) -> None:
        stored = self._manifests.get(fact.room_id)
        known = RecordingManifest.model_validate(stored) if stored is not None else None
        if isinstance(fact, PresenceBatch):
            folded = m.apply_presence(known, fact)
        else:
            folded = m.apply(known, fact)
        if folded is None or folded == known:
            return
        self._manifests[fact.room_id] = folded.model_dump(mode="json")
        await self._send(t.RECORDING_MANIFESTS, fact.room_id, folded)


class FlagFold:
    """Reports, automated flags and their resolutions into each room's moderation queue."""

    sources: tuple[t.TopicSpec, ...] = (t.ROOM_EVENTS, t.MODERATION)

    def __init__(self, queues: Any, send: Send) -> None:
        self._queues = queues
        self._send = send

    async def apply(self, fact: Fact) -> None:
        if not isinstance(fact, f.QUEUE_EVENTS):
            return
        stored = self._queues.get(fact.room_id)
        known = f.RoomQueue.model_validate(stored) if stored is not None else None
        folded = f.apply(known, fact)
        if folded is None or folded == known:
            return
        self._queues[fact.room_id] = folded.model_dump(mode="json")
        await self._send(t.MODERATION_QUEUE, fact.room_id, folded)
