"""What the room writer keeps per room in its changelogged table."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel

from projections.room import RoomState
from schemas.commands import CommandResult

RECENT_RESULTS = 64
"""Results remembered per room: enough to cover commands redelivered after a rebalance."""


class RoomRecord(BaseModel):
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
        return found.model_copy(update={"state": self.state.model_dump(mode="json")})

    def advance(self, state: RoomState, result: CommandResult) -> "RoomRecord":
        """Remember the result without its state snapshot: the changelog stays small."""
        slim = result.model_copy(update={"state": None})
        return RoomRecord(state=state, recent=(*self.recent, slim)[-RECENT_RESULTS:])
