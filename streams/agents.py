"""Agents: the room's single writer, the presence counter, the recording manifests, and
their dead-letter path."""

import logging
import os
import socket
import zlib
from typing import Any

import faust

from events.deadletter import dead_letter
from projections import flags as f
from projections import manifest as m
from projections import presence as p
from projections.room import DEFAULT_RULES, RoomRules
from projections.tiers import DEFAULT_THRESHOLDS, Thresholds
from projections.writer import RoomRecord, step
from schemas import topics as t
from schemas.base import utcnow
from schemas.codec import UndecodableMessage, decode_command, decode_event, decode_presence
from schemas.commands import CommandResult
from schemas.events import Event
from schemas.manifest import RecordingManifest
from schemas.presence import PresenceCounts
from streams.app import raw_record, raw_topic
from streams.faust_compat import changelog_partition_of

log = logging.getLogger("stoa.streams")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
COMMAND_BATCH = 200
COMMAND_WINDOW = 0.0005
"""Seconds a command may wait for companions; bounds the latency batching adds at low load."""


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


def install(
    app: faust.App,
    *,
    partitions: int,
    rules: RoomRules = DEFAULT_RULES,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> None:
    """Declare the tables and agents of a Stoa worker on ``app``."""
    commands = raw_topic(app, t.COMMANDS, partitions=partitions)
    presence_in = raw_topic(app, t.PRESENCE, t.ROOM_EVENTS, partitions=partitions)
    manifests_in = raw_topic(
        app, t.ROOM_EVENTS, t.MEDIA_EVENTS, t.PRESENCE, t.TRANSCRIPTS, partitions=partitions
    )
    flags_in = raw_topic(app, t.ROOM_EVENTS, t.MODERATION, partitions=partitions)
    out = {
        spec.name: raw_topic(app, spec, partitions=partitions)
        for spec in (
            t.ROOM_EVENTS,
            t.COMMAND_RESULTS,
            t.ROOM_STATE,
            t.PRESENCE_COUNTS,
            t.MEDIA_EVENTS,
            t.DEAD_LETTER,
            t.RECORDING_MANIFESTS,
            t.MODERATION_QUEUE,
        )
    }
    rooms = app.Table("rooms", partitions=partitions)
    counts = app.Table("presence-counts", partitions=partitions)
    members = app.Table("presence-members", partitions=partitions)
    manifests = app.Table("recording-manifests", partitions=partitions)
    queues = app.Table("moderation-queues", partitions=partitions)

    async def send(spec: t.TopicSpec, key: str, value: Any) -> Any:
        return await out[spec.name].send(key=key.encode(), value=value.model_dump_json().encode())

    async def park(event: Any, error: str, consumer: str) -> None:
        msg = event.message
        letter = dead_letter(raw_record(msg), error, consumer)
        log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, error)
        await send(t.DEAD_LETTER, letter.key or "", letter)

    @app.agent(commands, name="stoa.rooms")
    async def room_writer(stream: Any) -> None:
        """Single writer per room partition: decide, append events, store, answer.

        Commands are taken in small batches so one broker round trip acknowledges
        the events of many commands; within a batch each room still sees its
        commands one at a time, in log order.
        """
        async for batch in stream.take_events(COMMAND_BATCH, within=COMMAND_WINDOW):
            await _decide_batch(batch)

    async def _decide_batch(batch: list[Any]) -> None:
        records: dict[str, RoomRecord] = {}
        sources: dict[str, Any] = {}
        answers: list[CommandResult] = []
        acks: list[Any] = []
        for event in batch:
            try:
                command = decode_command(event.value)
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.rooms")
                continue
            room_id = command.room_id
            record = records.get(room_id) or RoomRecord.load(rooms.get(room_id))
            try:
                done = step(record, command, decided_by=WORKER_ID, rules=rules)
            except ValueError as exc:  # a SequenceGap or a decider that reused a seq
                log.error("room %s: %s refused by the writer: %s", room_id, command.type, exc)
                await park(event, f"{type(exc).__name__}: {exc}", "stoa.rooms")
                continue
            answers.append(done.result)
            if done.changed:
                acks += [await send(t.ROOM_EVENTS, room_id, ev) for ev in done.events]
                records[room_id] = done.record
                sources[room_id] = event
        for ack in acks:
            await ack  # events are durable before the table moves or anyone is told
        for room_id, record in records.items():
            with changelog_partition_of(sources[room_id]):
                rooms[room_id] = record.dump()
            assert record.state is not None
            await send(t.ROOM_STATE, room_id, record.state)
        for result in answers:
            await send(t.COMMAND_RESULTS, str(result.command_id), result)

    @app.agent(presence_in, name="stoa.presence")
    async def presence_counter(stream: Any) -> None:
        """Fold batched joins/leaves (and removals, room ends) into listener counts."""
        async for event in stream.events():
            topic = event.message.topic
            try:
                if topic == t.PRESENCE.name:
                    batch = decode_presence(event.value)
                    room_id = batch.room_id
                else:
                    room_event: Event = decode_event(event.value)
                    room_id = room_event.room_id
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.presence")
                continue
            state = p.PresenceState.model_validate(counts.get(room_id) or {"room_id": room_id})

            roster = Roster(members, room_id)
            is_member = roster.__contains__
            if topic == t.PRESENCE.name:
                new_state, changes = p.fold_batch(state, batch, is_member)
                at = batch.events[-1].occurred_at
            else:
                new_state, changes = p.fold_room_event(state, room_event, is_member)
                at = room_event.occurred_at
            new_state, moved = p.follow_tier(new_state, thresholds, at)
            if new_state == state:
                continue
            roster.apply(changes)
            if moved is not None:  # before the counts: the media plane acts on either
                await send(t.MEDIA_EVENTS, room_id, moved)
            counts[room_id] = new_state.model_dump(mode="json")
            await send(
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

    @app.agent(manifests_in, name="stoa.manifests")
    async def manifest_keeper(stream: Any) -> None:
        """Fold the room, media, presence and transcript logs into each room's manifest."""
        async for event in stream.events():
            topic = event.message.topic
            try:
                if topic == t.PRESENCE.name:
                    batch = decode_presence(event.value)
                    room_id = batch.room_id
                else:
                    fact: Event = decode_event(event.value)
                    room_id = fact.room_id
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.manifests")
                continue
            stored = manifests.get(room_id)
            known = RecordingManifest.model_validate(stored) if stored is not None else None
            if topic == t.PRESENCE.name:
                folded = m.apply_presence(known, batch)
            else:
                folded = m.apply(known, fact)
            if folded is None or folded == known:
                continue
            manifests[room_id] = folded.model_dump(mode="json")
            await send(t.RECORDING_MANIFESTS, room_id, folded)

    @app.agent(flags_in, name="stoa.flags")
    async def flag_keeper(stream: Any) -> None:
        """Fold reports, automated flags and their resolutions into each room's queue."""
        async for event in stream.events():
            try:
                fact: Event = decode_event(event.value)
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.flags")
                continue
            if not isinstance(fact, f.QUEUE_EVENTS):
                continue
            stored = queues.get(fact.room_id)
            known = f.RoomQueue.model_validate(stored) if stored is not None else None
            folded = f.apply(known, fact)
            if folded is None or folded == known:
                continue
            queues[fact.room_id] = folded.model_dump(mode="json")
            await send(t.MODERATION_QUEUE, fact.room_id, folded)
