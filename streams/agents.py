"""Agents: the room's single writer, the presence counter, and their dead-letter path."""

import logging
import os
import socket
from typing import Any

import faust

from events.deadletter import RawRecord, dead_letter
from projections import presence as p
from projections.room import DEFAULT_RULES, RoomRules, RoomState, decide, evolve
from schemas import topics as t
from schemas.codec import UndecodableMessage, decode_command, decode_event, decode_presence
from schemas.commands import CommandResult, Rejection
from schemas.events import Event
from schemas.presence import PresenceCounts
from schemas.base import utcnow
from streams.app import raw_topic
from streams.records import RoomRecord

log = logging.getLogger("stoa.streams")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def install(app: faust.App, *, partitions: int, rules: RoomRules = DEFAULT_RULES) -> None:
    """Declare the tables and agents of a Stoa worker on ``app``."""
    commands = raw_topic(app, t.COMMANDS, partitions=partitions)
    presence_in = raw_topic(app, t.PRESENCE, t.ROOM_EVENTS, partitions=partitions)
    out = {
        spec.name: raw_topic(app, spec, partitions=partitions)
        for spec in (t.ROOM_EVENTS, t.COMMAND_RESULTS, t.ROOM_STATE, t.PRESENCE_COUNTS, t.DEAD_LETTER)
    }
    rooms = app.Table("rooms", partitions=partitions)
    counts = app.Table("presence-counts", partitions=partitions)
    members = app.Table("presence-members", partitions=partitions)

    async def send(spec: t.TopicSpec, key: str, value: Any) -> Any:
        return await out[spec.name].send(key=key.encode(), value=value.model_dump_json().encode())

    async def park(event: Any, error: str, consumer: str) -> None:
        msg = event.message
        record = RawRecord(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
        letter = dead_letter(record, error, consumer)
        log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, error)
        await send(t.DEAD_LETTER, letter.key or "", letter)

    @app.agent(commands, name="stoa.rooms")
    async def room_writer(stream: Any) -> None:
        """Single writer per room partition: decide, append events, store, answer."""
        async for event in stream.events():
            try:
                command = decode_command(event.value)
            except UndecodableMessage as exc:
                await park(event, str(exc), "stoa.rooms")
                continue
            record = RoomRecord.load(rooms.get(command.room_id))
            cached = record.result_for(command.command_id)
            if cached is not None:  # redelivered after a crash: answer again, append nothing
                await send(t.COMMAND_RESULTS, str(command.command_id), cached)
                continue
            outcome = decide(record.state, command, rules)
            if isinstance(outcome, Rejection):
                result = CommandResult(
                    command_id=command.command_id, room_id=command.room_id, accepted=False,
                    version=record.state.version if record.state else 0, rejection=outcome,
                    decided_by=WORKER_ID,
                )  # fmt: skip
                await send(t.COMMAND_RESULTS, str(command.command_id), result)
                continue
            state = record.state
            for ev in outcome:
                state = evolve(state, ev)
            assert state is not None
            acks = [await send(t.ROOM_EVENTS, command.room_id, ev) for ev in outcome]
            for ack in acks:
                await ack  # events are durable before anyone is told they happened
            snapshot = state.model_dump(mode="json")
            result = CommandResult(
                command_id=command.command_id, room_id=command.room_id, accepted=True,
                version=state.version, event_types=tuple(ev.type for ev in outcome), state=snapshot,
                decided_by=WORKER_ID,
            )  # fmt: skip
            rooms[command.room_id] = record.advance(state, result).dump()
            await send(t.ROOM_STATE, command.room_id, state)
            await send(t.COMMAND_RESULTS, str(command.command_id), result)

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

            def is_member(user: str, room: str = room_id) -> bool:
                return bool(members.get(f"{room}/{user}"))

            if topic == t.PRESENCE.name:
                new_state, changes = p.fold_batch(state, batch, is_member)
            else:
                new_state, changes = p.fold_room_event(state, room_event, is_member)
            if new_state == state:
                continue
            for user, present in changes.items():
                key = f"{room_id}/{user}"
                if present:
                    members[key] = True
                else:
                    members.pop(key, None)
            counts[room_id] = new_state.model_dump(mode="json")
            await send(
                t.PRESENCE_COUNTS,
                room_id,
                PresenceCounts(
                    room_id=room_id,
                    listener_count=new_state.listener_count,
                    peak_listeners=new_state.peak_listeners,
                    updated_at=utcnow(),
                ),
            )


__all__ = ["RoomState", "install"]
