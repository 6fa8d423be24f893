"""Agents: the room's single writer, the projector that keeps the worker's other tables
(``streams.folds``), and their dead-letter path."""

import logging
import os
import socket
from typing import Any

import faust

from events.deadletter import dead_letter
from projections.room import DEFAULT_RULES, RoomRules
from projections.tiers import DEFAULT_THRESHOLDS, Thresholds
from projections.writer import RoomRecord, step
from schemas import topics as t
from schemas.codec import UndecodableMessage, decode_command, decode_event, decode_presence
from schemas.commands import CommandResult
from streams.app import raw_record, raw_topic
from streams.faust_compat import changelog_partition_of
from streams.folds import Fact, FlagFold, Fold, ManifestFold, PresenceFold

log = logging.getLogger("stoa.streams")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
COMMAND_BATCH = 200
COMMAND_WINDOW = 0.0005
"""Seconds a command may wait for companions; bounds the latency batching adds at low load."""


def install(
    app: faust.App,
    *,
    partitions: int,
    rules: RoomRules = DEFAULT_RULES,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> None:
    """Declare the tables and agents of a Stoa worker on ``app``."""
    commands = raw_topic(app, t.COMMANDS, partitions=partitions)
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

    folds: list[Fold] = [
        PresenceFold(counts, members, thresholds, send),
        ManifestFold(manifests, send),
        FlagFold(queues, send),
    ]
    inputs = {spec.name: spec for fold in folds for spec in fold.sources}
    readers = {
        name: [fold for fold in folds if spec in fold.sources] for name, spec in inputs.items()
    }
    # one agent per input topic: see ``streams.folds`` for the stall several readers caused
    projections_in = raw_topic(app, *inputs.values(), partitions=partitions)

    @app.agent(projections_in, name="stoa.projections")
    async def projector(stream: Any) -> None:
        """Decode each record of the shared logs once and fold it into every table that reads it."""
        async for event in stream.events():
            topic = event.message.topic
            try:
                fact: Fact = (
                    decode_presence(event.value)
                    if topic == t.PRESENCE.name
                    else decode_event(event.value)
                )
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.projections")
                continue
            for fold in readers[topic]:
                await fold.apply(fact)
