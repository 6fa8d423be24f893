"""The room writer's step: one command against a room's record, as a pure function.

The Faust agent (``streams.agents``) does only I/O around it: it loads the
room's record from its table, calls ``step``, appends the events, stores the
new record and sends the result. Tests and tools call the same function, so
what the writer decides can be checked without a broker.

A room's record is its state plus the answers to its recent commands: a
command redelivered after a crash or a rebalance (same ``command_id``) gets
its first answer again and appends nothing, so ``seq`` stays contiguous.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from projections.room import DEFAULT_RULES, Decision, RoomRules, decide, evolve
from schemas.commands import Command, CommandResult, Rejection
from schemas.events import Event
from schemas.room import RoomState

RECENT_RESULTS = 64
"""Results remembered per room: enough to cover commands redelivered after a rebalance."""

Decide = Callable[[RoomState | None, Command, RoomRules], Decision]


class RoomRecord(BaseModel):
    """What the writer keeps per room in its changelogged table."""

    state: RoomState | None = None
    recent: tuple[CommandResult, ...] = ()

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> "RoomRecord":
        return cls.model_validate(raw) if raw else cls()

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def result_for(self, command_id: UUID) -> CommandResult | None:
        """The answer already given to a command, with today's state attached."""
        found = next((r for r in self.recent if r.command_id == command_id), None)
        if found is None or self.state is None:
            return found
        return found.model_copy(update={"state": self.state})

    def advance(self, state: RoomState, result: CommandResult) -> "RoomRecord":
        """Remember the result without its state snapshot: the changelog stays small."""
        slim = result.model_copy(update={"state": None})
        return RoomRecord(state=state, recent=(*self.recent, slim)[-RECENT_RESULTS:])


@dataclass(frozen=True)
class Step:
    """What one command did: the events to append, the record to store, the answer to send.

    ``events`` is empty for a rejection or a redelivered command, and then
    ``record`` is the record as it was (nothing to store or publish).
    """

    record: RoomRecord
    events: tuple[Event, ...]
    result: CommandResult

    @property
    def changed(self) -> bool:
        return bool(self.events)


def step(
    record: RoomRecord,
    command: Command,
    *,
    decided_by: str,
    rules: RoomRules = DEFAULT_RULES,
    decide: Decide = decide,
) -> Step:
    """Decide ``command`` against ``record`` and fold the accepted events into it.

    Raises ``projections.room.SequenceGap`` if the decided events do not
    continue the room's ``seq`` (a decider bug or a corrupted record): the
    agent dead-letters the command rather than append a broken history.
    """
    cached = record.result_for(command.command_id)
    if cached is not None:
        return Step(record, (), cached)
    outcome = decide(record.state, command, rules)
    version = record.state.version if record.state else 0
    if isinstance(outcome, Rejection):
        result = CommandResult(
            command_id=command.command_id,
            room_id=command.room_id,
            accepted=False,
            version=version,
            rejection=outcome,
            decided_by=decided_by,
        )
        return Step(record, (), result)
    state = record.state
    for event in outcome:
        state = evolve(state, event)
    if state is None or state.version != version + len(outcome):
        raise ValueError(
            f"the events of {command.type} do not continue room {command.room_id} "
            f"from seq {version}"
        )
    result = CommandResult(
        command_id=command.command_id,
        room_id=command.room_id,
        accepted=True,
        version=state.version,
        event_types=tuple(event.type for event in outcome),
        state=state,
        decided_by=decided_by,
    )
    return Step(record.advance(state, result), tuple(outcome), result)
