"""The moderator queue: automated flags and people's reports, and what a moderator does.

A room's host and co-hosts see its queue and resolve its items. Resolving with
``mute``, ``remove`` or ``end_room`` issues the real command through the room's
decider (so its rules and refusals apply), then records ``FlagResolved`` on
``stoa.moderation``; ``dismiss`` records only that.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentUser, User
from api.commanding import command_fields, room_states, run_command
from api.problems import Problem, responses
from api.views import Body
from events.flags import QueueReadModel
from events.producer import LogProducer
from projections.flags import Action, QueueItem, open_items
from schemas import commands as c
from schemas.base import utcnow
from schemas.events import FlagResolved, FlagResolvedData
from schemas.recording import recording_id_for
from schemas.topics import MODERATION

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

ItemIdPath = Annotated[uuid.UUID, Path(description="The flag's or the report's id.")]


class QueueItemView(BaseModel):
    item_id: uuid.UUID
    kind: Literal["flag", "report"]
    room_id: str
    user_id: str | None = Field(description="Whom it is about.")
    category: str
    score: float | None
    text: str
    start_seconds: float | None = Field(description="Where in the room (and its recording).")
    end_seconds: float | None
    raised_by: str
    raised_at: datetime
    open: bool
    action: Action | None
    resolved_by: str | None
    recording_id: uuid.UUID = Field(description="The room's recording, to hear the moment.")

    @classmethod
    def of(cls, item: QueueItem) -> "QueueItemView":
        r = item.resolution
        return cls(
            **item.model_dump(exclude={"resolution"}),
            open=r is None,
            action=r.action if r else None,
            resolved_by=r.resolved_by if r else None,
            recording_id=recording_id_for(item.room_id),
        )


class QueueView(BaseModel):
    items: list[QueueItemView]


class ResolveBody(Body):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Action = Field(
        description="`mute` or `remove` the person it is about, `end_room`, or `dismiss`."
    )


def _queues(request: Request) -> QueueReadModel:
    queues: QueueReadModel = request.app.state.queues
    return queues


def _moderates(request: Request, room_id: str, user: User) -> bool:
    state = room_states(request).rooms.get(room_id)
    return state is not None and state.moderates(user.user_id)


@router.get("/flags", response_model=QueueView, responses=responses(401, 403, 404, 422))
async def list_flags(
    request: Request,
    user: CurrentUser,
    room_id: Annotated[str | None, Query(max_length=64, description="One room only.")] = None,
    status: Annotated[
        Literal["open", "all"], Query(description="Open items only (default).")
    ] = "open",
) -> QueueView:
    """The queue of every room the caller hosts or co-hosts: open items, worst first."""
    if room_id is not None:
        if room_id not in room_states(request).rooms:
            raise Problem(404, "room_not_found", f"Room {room_id} does not exist.")
        if not _moderates(request, room_id, user):
            raise Problem(403, "not_moderator", "Only the host or a co-host sees this queue.")
    rooms = [room_id] if room_id else list(_queues(request).by_room)
    items: list[QueueItem] = []
    for room in rooms:
        queue = _queues(request).by_room.get(room)
        if queue is None or not _moderates(request, room, user):
            continue
        items += open_items(queue) if status == "open" else list(queue.items)
    if room_id is None and status == "open":
        items = sorted(
            items, key=lambda i: (-(i.score if i.score is not None else 1.0), i.raised_at)
        )
    return QueueView(items=[QueueItemView.of(i) for i in items])


@router.post(
    "/flags/{item_id}/resolve",
    response_model=QueueItemView,
    responses=responses(401, 403, 404, 409, 422, 429, 504),
)
async def resolve(
    item_id: ItemIdPath, body: ResolveBody, request: Request, user: CurrentUser
) -> QueueItemView:
    """Act on an item: the command it names goes through the room's rules, then the item
    is closed with what was done."""
    item = _queues(request).item(item_id)
    if item is None or not _moderates(request, item.room_id, user):
        if item is not None:
            raise Problem(403, "not_moderator", "Only the host or a co-host resolves this.")
        raise Problem(404, "flag_not_found", f"No flag or report {item_id}.")
    done = item.resolution
    if done is not None:
        said = f"This was already resolved ({done.action} by {done.resolved_by})."
        raise Problem(409, "already_resolved", said)
    fields = command_fields(item.room_id, user)
    if body.action in ("mute", "remove"):
        if item.user_id is None:
            raise Problem(409, "nobody_to_act_on", "This item names nobody to mute or remove.")
        kind = c.MuteSpeaker if body.action == "mute" else c.RemoveParticipant
        await run_command(request, kind(**fields, target_id=item.user_id))
    elif body.action == "end_room":
        await run_command(request, c.EndRoom(**fields))
    resolved = FlagResolved(
        event_id=uuid.uuid4(),
        room_id=item.room_id,
        actor_id=user.user_id,
        occurred_at=utcnow(),
        data=FlagResolvedData(flag_id=item.item_id, action=body.action),
    )
    producer: LogProducer = request.app.state.producer
    await producer.send(MODERATION.name, item.room_id, resolved)
    queues = _queues(request)

    def current() -> QueueItem:
        return queues.item(item_id) or item

    await queues.until(lambda: current().resolution is not None)
    return QueueItemView.of(current())
