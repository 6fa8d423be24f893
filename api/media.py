"""Media routes: WHIP (speakers), WHEP and WebSocket (listeners), and the media page.

Every route authorizes twice: the media token (audience ``stoa-media``, its
``room`` claim must name this room) says who the caller is and what they were
when they joined; the gateway's read model says what they are now. A speaker
demoted after joining cannot publish with their old token, and a removed
listener cannot listen. Refusals are RFC 9457 problems, also on the WebSocket
(as the HTTP response to the upgrade request).
"""

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Query, Request, Response, WebSocket
from fastapi.responses import FileResponse
from starlette.websockets import WebSocketDisconnect

from api.auth import Authenticator
from api.openapi import END_SESSION, offer_answer
from api.problems import Problem, problem_response
from api.views import MixingQuery, RoomIdPath, SessionIdPath
from events.readmodel import RoomReadModel
from media.listeners import WsListener
from media.peer import OfferError
from media.plane import MediaPlane
from media.tokens import Grant, TokenRefused
from projections.admission import Action, admit
from schemas.commands import Rejection
from schemas.room import RoomState

router = APIRouter(prefix="/v1/rooms", tags=["media"])
page_router = APIRouter()

SDP = "application/sdp"
ResumeQuery = Annotated[
    int | None, Query(alias="from", ge=0, lt=2**32, description="the first seq wanted")
]
STATIC = Path(__file__).parent / "static"


def _plane(app: Any) -> MediaPlane:
    plane: MediaPlane = app.state.media
    return plane


def _grant(app: Any, room_id: str, token: str) -> Grant:
    auth: Authenticator = app.state.auth
    try:
        return auth.media.grant(token, room_id)
    except TokenRefused as refused:
        raise Problem(refused.status, refused.code, refused.detail) from refused


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _admit(app: Any, room_id: str, grant: Grant, action: Action) -> RoomState:
    """The room now, if it admits the token's holder to ``action`` (``projections.admission``)."""
    rooms: RoomReadModel = app.state.rooms
    state = rooms.rooms.get(room_id)
    admitted = admit(state, room_id, grant.user_id, action, grant.role)
    if isinstance(admitted, Rejection):
        raise Problem.from_rejection(admitted)
    assert state is not None
    return state


async def _offer(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != SDP:
        raise Problem(415, "unsupported_media_type", f"Send the SDP offer as {SDP}.")
    body = await request.body()
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise Problem(422, "bad_offer", "The SDP offer is not UTF-8 text.") from exc


class _Session(Protocol):
    room_id: str
    user_id: str


def _own(session: _Session | None, room_id: str, grant: Grant, kind: str) -> None:
    """A session's Location only ends the caller's own session in that room."""
    if session is None or session.room_id != room_id or session.user_id != grant.user_id:
        raise Problem(404, "session_not_found", f"There is no such {kind} session of yours.")


def _answer(sdp: str, location: str) -> Response:
    return Response(
        sdp, status_code=201, media_type=SDP, headers={"Location": location, "ETag": '"1"'}
    )


@router.post("/{room_id}/whip", status_code=201, response_class=Response, **offer_answer("speaker"))
async def publish(room_id: RoomIdPath, request: Request) -> Response:
    """Publish one Opus track (RFC 9725). Speaker token; the caller must be on stage now."""
    grant = _grant(request.app, room_id, _bearer(request))
    state = _admit(request.app, room_id, grant, "publish")
    offer = await _offer(request)
    plane = _plane(request.app)
    try:
        session = await plane.sfu.publish(
            room_id, grant.user_id, offer, muted=grant.user_id in state.muted_ids
        )
    except OfferError as exc:
        raise Problem(422, "bad_offer", f"The SDP offer cannot be served: {exc}.") from exc
    for event in plane.enforcer.replay(room_id, grant.user_id, state.version):
        await plane.enforcer.apply(event, only_user=grant.user_id)
    if session.closed.is_set():  # an event newer than the read model took the stage away
        raise Problem(403, "not_on_stage", "You are no longer on stage in this room.")
    return _answer(session.answer, f"/v1/rooms/{room_id}/whip/{session.id}")


@router.delete(
    "/{room_id}/whip/{session_id}", status_code=204, response_class=Response, **END_SESSION
)
async def unpublish(room_id: RoomIdPath, session_id: SessionIdPath, request: Request) -> Response:
    """End a WHIP session (the Location of the publish answer)."""
    grant = _grant(request.app, room_id, _bearer(request))
    sfu = _plane(request.app).sfu
    _own(sfu.sessions.get(session_id), room_id, grant, "publishing")
    await sfu.end(session_id, "deleted by the speaker")
    return Response(status_code=204)


@router.post(
    "/{room_id}/whep", status_code=201, response_class=Response, **offer_answer("listener")
)
async def play(room_id: RoomIdPath, request: Request, mixing: MixingQuery = "server") -> Response:
    """Receive the room over WebRTC: the mix, or with ``mixing=client`` one track per speaker."""
    grant = _grant(request.app, room_id, _bearer(request))
    _admit(request.app, room_id, grant, "listen")
    offer = await _offer(request)
    try:
        session = await _plane(request.app).whep.serve(
            room_id, grant.user_id, offer, client_mixing=mixing == "client"
        )
    except OfferError as exc:
        raise Problem(422, "bad_offer", f"The SDP offer cannot be served: {exc}.") from exc
    return _answer(session.answer, f"/v1/rooms/{room_id}/whep/{session.id}")


@router.delete(
    "/{room_id}/whep/{session_id}", status_code=204, response_class=Response, **END_SESSION
)
async def stop_playing(
    room_id: RoomIdPath, session_id: SessionIdPath, request: Request
) -> Response:
    grant = _grant(request.app, room_id, _bearer(request))
    whep = _plane(request.app).whep
    _own(whep.sessions.get(session_id), room_id, grant, "listening")
    await whep.end(session_id, "deleted by the listener")
    return Response(status_code=204)


@router.websocket("/{room_id}/listen")
async def listen(
    websocket: WebSocket,
    room_id: str,
    token: str = "",
    resume: ResumeQuery = None,
    audio: Annotated[int, Query(ge=0, le=1, description="0: text messages only")] = 1,
) -> None:
    """The room's mix as binary Opus records, and its state as JSON text (CONTRACT.md).

    ``from`` resumes after a dropped connection: the frames the room's ring still
    holds from that seq come first, and an older range is reported as a gap.
    ``audio=0`` sends the text messages alone (room state, speaking activity), for
    people on stage who hear the room over WHEP. A relay subscribes here with its
    own token, like any listener.
    """
    try:
        grant = _grant(websocket.app, room_id, token)
        _admit(websocket.app, room_id, grant, "listen")
    except Problem as problem:
        await websocket.send_denial_response(
            problem_response(websocket, problem.status, problem.code, problem.detail)
        )
        return
    await websocket.accept()
    listener = WsListener(grant.user_id, relay=grant.relay, audio=bool(audio))

    async def forward() -> None:
        while (message := await listener.queue.get()) is not None:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)

    async def until_disconnect() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    with _plane(websocket.app).hubs.listening(room_id, listener, resume):
        tasks = [asyncio.create_task(forward()), asyncio.create_task(until_disconnect())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task
    with contextlib.suppress(Exception):
        await websocket.close()


@page_router.get("/media", include_in_schema=False)
async def media_page() -> FileResponse:
    """Speak (WHIP) and listen (WHEP) from a browser, by hand."""
    return FileResponse(STATIC / "media.html", media_type="text/html")
