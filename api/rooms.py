"""Room routes: each one validates, builds a command, and maps the room's answer."""

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.auth import CurrentUser
from api.commanding import command_fields, room_states, run_command, throttle
from api.problems import Problem, responses
from api.views import (
    ChapterBody,
    CreateRoomBody,
    JoinOut,
    ListenUrls,
    PublishUrls,
    ReportBody,
    ReportOut,
    RoomIdPath,
    RoomList,
    RoomSummary,
    RoomView,
    UserIdPath,
)
from media.routing import Routes
from projections.admission import admit
from projections.listing import Listed
from schemas import commands as c
from schemas.commands import Rejection
from schemas.room import RoomState

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])

COMMAND = responses(401, 403, 404, 409, 422, 429, 504)
"""What a command to a room can answer besides success (``run_command``, the room's rejections)."""


def _view(request: Request, state: RoomState) -> RoomView:
    return RoomView.of(state, room_states(request).listener_counts(state.room_id))


def _known(request: Request, room_id: str) -> RoomState:
    state = room_states(request).rooms.get(room_id)
    if state is None:
        raise Problem(404, "room_not_found", f"Room {room_id} does not exist.")
    return state


@router.post("", status_code=201, response_model=RoomView, responses=COMMAND)
async def create_room(body: CreateRoomBody, request: Request, user: CurrentUser) -> RoomView:
    room_id = secrets.token_urlsafe(9)
    command = c.CreateRoom(**command_fields(room_id, user), **body.model_dump())
    _, state = await run_command(request, command)
    return _view(request, state)


@router.get("", response_model=RoomList, responses=responses(422))
async def list_rooms(
    request: Request,
    status: Annotated[Listed, Query(description="Live rooms, or scheduled ones.")] = "live",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=300, description="The previous page's `next`.")
    ] = None,
) -> RoomList:
    """Live rooms by audience (largest first), or scheduled rooms by start time.

    Served from an index the gateway keeps as rooms change, not a scan of every room.
    """
    rooms = room_states(request)
    try:
        page = rooms.listing.page(status, limit, cursor)
    except ValueError as exc:
        raise Problem(422, "bad_cursor", "cursor must be the `next` of a previous page.") from exc
    summaries = [
        RoomSummary.of(rooms.rooms[room_id], rooms.listener_counts(room_id)[0])
        for room_id in page.room_ids
    ]
    return RoomList(rooms=summaries, next=page.next_cursor)


@router.get("/{room_id}", response_model=RoomView, responses=responses(404, 422))
async def get_room(room_id: RoomIdPath, request: Request) -> RoomView:
    return _view(request, _known(request, room_id))


async def _simple(
    request: Request, room_id: str, user: CurrentUser, kind: type[c.Command], **extra: Any
) -> RoomView:
    _, state = await run_command(request, kind(**command_fields(room_id, user), **extra))
    return _view(request, state)


@router.post("/{room_id}/start", response_model=RoomView, responses=COMMAND)
async def start_room(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.StartRoom)


@router.post("/{room_id}/end", response_model=RoomView, responses=COMMAND)
async def end_room(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.EndRoom)


@router.put("/{room_id}/pin", response_model=RoomView, responses=COMMAND)
async def pin_room(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.PinRoom)


@router.delete("/{room_id}/pin", response_model=RoomView, responses=COMMAND)
async def unpin_room(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.UnpinRoom)


@router.post("/{room_id}/hand", response_model=RoomView, responses=COMMAND)
async def raise_hand(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.RaiseHand)


@router.delete("/{room_id}/hand", response_model=RoomView, responses=COMMAND)
async def lower_hand(room_id: RoomIdPath, request: Request, user: CurrentUser) -> RoomView:
    return await _simple(request, room_id, user, c.LowerHand)


def _targeted(path: str, put: type[c.Command], delete: type[c.Command] | None) -> None:
    """Register PUT (and DELETE) /v1/rooms/{room_id}/<path>/{user_id} for a role change."""
    for method, kind in (("PUT", put), ("DELETE", delete)):
        if kind is not None:
            router.add_api_route(
                f"/{{room_id}}/{path}/{{user_id}}",
                _targeted_route(kind),
                methods=[method],
                response_model=RoomView,
                responses=COMMAND,
                name=kind.__name__,
            )


def _targeted_route(kind: type[c.Command]) -> Callable[..., Awaitable[RoomView]]:
    async def route(
        room_id: RoomIdPath, user_id: UserIdPath, request: Request, user: CurrentUser
    ) -> RoomView:
        return await _simple(request, room_id, user, kind, target_id=user_id)

    return route


_targeted("speakers", c.PromoteSpeaker, c.DemoteSpeaker)
_targeted("cohosts", c.AddCohost, c.RemoveCohost)
_targeted("mutes", c.MuteSpeaker, c.UnmuteSpeaker)
_targeted("removals", c.RemoveParticipant, None)


@router.post("/{room_id}/reports", status_code=201, response_model=ReportOut, responses=COMMAND)
async def file_report(
    room_id: RoomIdPath, body: ReportBody, request: Request, user: CurrentUser
) -> ReportOut:
    command = c.FileReport(**command_fields(room_id, user), **body.model_dump())
    result, _ = await run_command(request, command)
    return ReportOut(
        report_id=str(uuid.uuid5(command.command_id, "report")), version=result.version
    )


@router.post("/{room_id}/chapters", status_code=201, response_model=RoomView, responses=COMMAND)
async def mark_chapter(
    room_id: RoomIdPath, body: ChapterBody, request: Request, user: CurrentUser
) -> RoomView:
    return await _simple(request, room_id, user, c.MarkChapter, title=body.title)


@router.post(
    "/{room_id}/join", response_model=JoinOut, responses=responses(401, 403, 404, 409, 422, 429)
)
async def join(room_id: RoomIdPath, request: Request, user: CurrentUser) -> JoinOut:
    """Presence plus a short-lived media token for the caller's current role."""
    throttle(request, user.user_id)
    state = room_states(request).rooms.get(room_id)
    admitted = admit(state, room_id, user.user_id, "join")
    if isinstance(admitted, Rejection):
        raise Problem.from_rejection(admitted)
    assert state is not None
    role = admitted.role
    await request.app.state.presence.record(room_id, user.user_id, joined=True)
    base = str(request.base_url).rstrip("/")
    routes: Routes = request.app.state.media.routes
    tier = room_states(request).tier(room_id)
    how = routes.listening(room_id, user.user_id, role, state.hand_raised(user.user_id), tier, base)
    listen = ListenUrls(
        websocket=how.websocket,
        hls=how.hls,
        whep=f"{base}/v1/rooms/{room_id}/whep",
        tier=how.tier,
        preferred=how.preferred,
        fallbacks=how.fallbacks,
    )
    publish = PublishUrls(whip=f"{base}/v1/rooms/{room_id}/whip") if admitted.may_publish else None
    return JoinOut(
        token=how.token, role=role, listen=listen, publish=publish, room=_view(request, state)
    )


@router.post("/{room_id}/leave", status_code=204, responses=responses(401, 404, 422, 429))
async def leave(room_id: RoomIdPath, request: Request, user: CurrentUser) -> Response:
    throttle(request, user.user_id)
    _known(request, room_id)
    await request.app.state.presence.record(room_id, user.user_id, joined=False)
    return Response(status_code=204)
