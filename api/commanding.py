"""Sending a command from a route: who sends it, throttling, and the room's answer as HTTP."""

import math
import uuid
from typing import Any

from fastapi import Request

from api.auth import User
from api.bus import CommandBus, CommandTimeout
from api.problems import Problem
from events.readmodel import RoomReadModel
from schemas import commands as c
from schemas.base import utcnow
from schemas.commands import CommandResult
from schemas.room import RoomState


def command_bus(request: Request) -> CommandBus:
    bus: CommandBus = request.app.state.bus
    return bus


def room_states(request: Request) -> RoomReadModel:
    rooms: RoomReadModel = request.app.state.rooms
    return rooms


def command_fields(room_id: str, user: User) -> dict[str, Any]:
    return {
        "command_id": uuid.uuid4(),
        "room_id": room_id,
        "actor_id": user.user_id,
        "issued_at": utcnow(),
    }


def throttle(request: Request, user_id: str) -> None:
    wait = request.app.state.limiter.wait_for(user_id)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise Problem(
            429,
            "rate_limited",
            f"You are acting too fast; try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


async def run_command(request: Request, command: c.Command) -> tuple[CommandResult, RoomState]:
    """Send the command; a rejection becomes the matching problem response."""
    throttle(request, command.actor_id)
    try:
        result = await command_bus(request).execute(command)
    except CommandTimeout as exc:
        raise Problem(
            504,
            "command_timeout",
            "The room service did not answer in time; "
            "the command may still be applied. Check the room state.",
        ) from exc
    metrics = request.app.state.metrics
    metrics.commands.labels(command.type, "accepted" if result.accepted else "rejected").inc()
    if result.rejection is not None:
        raise Problem.from_rejection(result.rejection)
    state = room_states(request).apply_snapshot(result.state)
    assert state is not None
    return result, state
