"""Recording routes: the manifest, the audio with byte ranges, clips, publish and delete.

Who sees what: a published recording is public; an unpublished one is the host's
and co-hosts' only (anyone else gets 403, or 401 without a token); a deleted
one is 404 for everyone. Writes are the host's, through the room's decider,
so they land on ``stoa.room-events`` like every other fact of the room.
Audio answers byte ranges (``api.ranges``) straight from the object store,
so a player seeks without downloading the file.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from api.auth import CurrentUser, MaybeUser, User
from api.commanding import command_fields, run_command
from api.problems import Problem, responses
from api.ranges import ByteRange, RangeNotSatisfiable, select
from api.recording_views import (
    ClipBody,
    ClipIdPath,
    ClipView,
    FormatQuery,
    RecordingIdPath,
    RecordingList,
    RecordingSettingBody,
    RecordingSummary,
    RecordingView,
)
from api.views import RoomIdPath, RoomView, UserIdQuery
from events.manifests import ManifestReadModel
from infra.objects import ObjectStoreClient
from media.finalize import cut_clip, delete_recording
from schemas import commands as c
from schemas.manifest import RecordingManifest
from schemas.recording import clip_key

router = APIRouter(tags=["recordings"])

COMMAND = responses(401, 403, 404, 409, 422, 429, 504)
READ = responses(401, 403, 404, 422)
ANYONE: dict[str, Any] = {"security": [{}]}
"""Added to the bearer scheme FastAPI lists: a token is optional here (published recordings
are public, the rest need one)."""
AUDIO_TYPES = {"opus": "audio/ogg", "m4a": "audio/mp4"}
STREAM_CHUNK = 256 * 1024


def _manifests(request: Request) -> ManifestReadModel:
    manifests: ManifestReadModel = request.app.state.manifests
    return manifests


def _store(request: Request) -> ObjectStoreClient:
    store: ObjectStoreClient = request.app.state.objects
    return store


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _may_see(m: RecordingManifest, user: User | None) -> bool:
    return m.published or (user is not None and _moderates(m, user))


def _moderates(m: RecordingManifest, user: User) -> bool:
    return user.user_id == m.host_id or user.user_id in m.cohost_ids


def visible(request: Request, recording_id: uuid.UUID, user: User | None) -> RecordingManifest:
    """The recording if the caller may see it; else the problem that says why not."""
    m = _manifests(request).recording(recording_id)
    if m is None or m.deleted:
        raise Problem(404, "recording_not_found", f"Recording {recording_id} does not exist.")
    if _may_see(m, user):
        return m
    if user is None:
        raise Problem(
            401,
            "not_authenticated",
            "This recording is not published; sign in as its host to hear it.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise Problem(
        403,
        "recording_not_published",
        "Only the host and co-hosts can hear it until it is published.",
    )


# --- reading ----------------------------------------------------------------------


@router.get(
    "/v1/recordings",
    response_model=RecordingList,
    responses=responses(401, 422),
    openapi_extra=ANYONE,
)
async def list_recordings(
    request: Request,
    user: MaybeUser,
    host_id: UserIdQuery,
) -> RecordingList:
    """A host's recordings, newest first: all of them for the host, published ones for others."""
    found = _manifests(request).of_host(host_id)
    items = [
        RecordingSummary.of(m)
        for m in found
        if not m.deleted and m.status in ("recording", "processing", "ready") and _may_see(m, user)
    ]
    return RecordingList(items=items)


@router.get(
    "/v1/rooms/{room_id}/recordings",
    response_model=RecordingList,
    responses=READ,
    openapi_extra=ANYONE,
)
async def room_recordings(room_id: RoomIdPath, request: Request, user: MaybeUser) -> RecordingList:
    """The room's recording, if there is one the caller may see (an empty list otherwise)."""
    if room_id not in request.app.state.rooms.rooms:
        raise Problem(404, "room_not_found", f"Room {room_id} does not exist.")
    m = _manifests(request).by_room.get(room_id)
    if m is None or m.deleted or m.status in ("off", "empty", "scheduled") or not _may_see(m, user):
        return RecordingList(items=[])
    return RecordingList(items=[RecordingSummary.of(m)])


@router.get(
    "/v1/recordings/{recording_id}",
    response_model=RecordingView,
    responses=READ,
    openapi_extra=ANYONE,
)
async def get_recording(
    recording_id: RecordingIdPath, request: Request, user: MaybeUser
) -> RecordingView:
    """The manifest: files, chapters, speaker turns, participants and clips."""
    return RecordingView.of(visible(request, recording_id, user), _base(request))


AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The whole file.",
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES.values()
        },
    },
    206: {
        "description": "The range asked for (`Content-Range`).",
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES.values()
        },
    },
    **responses(401, 403, 404, 409, 416, 422),
}


@router.get(
    "/v1/recordings/{recording_id}/audio",
    response_class=StreamingResponse,
    responses=AUDIO_RESPONSES,
    openapi_extra=ANYONE,
)
async def recording_audio(
    recording_id: RecordingIdPath,
    request: Request,
    user: MaybeUser,
    format: FormatQuery = "opus",
) -> Response:
    """The recording's audio; `Range`, `If-Range` and `ETag` let any player seek."""
    m = visible(request, recording_id, user)
    stored = m.web if format == "opus" else m.podcast
    if stored is None:
        raise Problem(
            409, "recording_not_ready", "The recording is still being finished; try again soon."
        )
    return await _serve(request, m, stored.uri, AUDIO_TYPES[format])


@router.get(
    "/v1/recordings/{recording_id}/clips/{clip_id}/audio",
    response_class=StreamingResponse,
    responses=AUDIO_RESPONSES,
    openapi_extra=ANYONE,
)
async def clip_audio(
    recording_id: RecordingIdPath, clip_id: ClipIdPath, request: Request, user: MaybeUser
) -> Response:
    """A clip's audio (Ogg Opus), with byte ranges like the whole recording."""
    m = visible(request, recording_id, user)
    clip = next((clip for clip in m.clips if clip.clip_id == clip_id), None)
    if clip is None:
        raise Problem(404, "clip_not_found", f"Clip {clip_id} does not exist.")
    return await _serve(request, m, clip.uri, AUDIO_TYPES["opus"])


async def _serve(request: Request, m: RecordingManifest, key: str, content_type: str) -> Response:
    store = _store(request)
    head = await store.head(key)
    if head is None:
        raise Problem(404, "recording_not_found", "The recording's file is gone.")
    size, etag = head
    cache = "public, max-age=3600" if m.published else "private, no-cache"
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{etag}"', "Cache-Control": cache}
    try:
        chosen = select(request.headers.get("range"), request.headers.get("if-range"), size, etag)
    except RangeNotSatisfiable as exc:
        raise Problem(
            416, "range_not_satisfiable", f"The range cannot be served: {exc}.",
            headers={"Content-Range": f"bytes */{size}"},
        ) from exc  # fmt: skip
    if chosen.partial:
        headers["Content-Range"] = chosen.content_range(size)
    headers["Content-Length"] = str(chosen.length)
    status = 206 if chosen.partial else 200
    if request.method == "HEAD" or chosen.length == 0:
        return Response(status_code=status, headers=headers, media_type=content_type)
    first = await store.get_range(key, chosen.start, min(chosen.end, chosen.start + STREAM_CHUNK))
    if first is None:
        raise Problem(404, "recording_not_found", "The recording's file is gone.")
    body = _rest(store, key, chosen, first)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=content_type)


async def _rest(
    store: ObjectStoreClient, key: str, chosen: ByteRange, first: bytes
) -> AsyncIterator[bytes]:
    """The first piece (read before answering, so a vanished file is a 404), then the rest."""
    yield first
    at = chosen.start + len(first)
    while at < chosen.end:
        piece = await store.get_range(key, at, min(chosen.end, at + STREAM_CHUNK))
        if not piece:
            return
        yield piece
        at += len(piece)


# --- the host's controls ------------------------------------------------------------


def _own(request: Request, recording_id: uuid.UUID, user: User) -> RecordingManifest:
    """The recording for a write by ``user``; the decider has the last word on who may."""
    m = _manifests(request).recording(recording_id)
    if m is None or m.deleted:
        raise Problem(404, "recording_not_found", f"Recording {recording_id} does not exist.")
    if user.user_id != m.host_id:
        raise Problem(403, "not_host", "Only the host can publish, clip or delete the recording.")
    return m


def _ready(m: RecordingManifest) -> None:
    if m.web is None:
        raise Problem(
            409, "recording_not_ready", "The recording is still being finished; try again soon."
        )


async def _recording_command(
    request: Request, m: RecordingManifest, user: User, kind: type[c.Command]
) -> RecordingView:
    await run_command(request, kind(**command_fields(m.room_id, user)))
    return RecordingView.of(await _fresh(request, m, AFTER[kind]), _base(request))


AFTER: dict[type[c.Command], Callable[[RecordingManifest], bool]] = {
    c.PublishRecording: lambda x: x.published,
    c.UnpublishRecording: lambda x: not x.published,
    c.DeleteRecording: lambda x: x.deleted,
}


async def _fresh(
    request: Request, m: RecordingManifest, done: Callable[[RecordingManifest], bool]
) -> RecordingManifest:
    """The manifest once the command's event reached this gateway (a few ms), or as it was
    after a while: the caller's next read then agrees with what it was just told."""
    manifests = _manifests(request)

    def current() -> RecordingManifest:
        return manifests.recording(m.recording_id) or m

    await manifests.until(lambda: done(current()))
    return current()


@router.post(
    "/v1/recordings/{recording_id}/publish", response_model=RecordingView, responses=COMMAND
)
async def publish(
    recording_id: RecordingIdPath, request: Request, user: CurrentUser
) -> RecordingView:
    """Make the recording public (anyone can hear it)."""
    m = _own(request, recording_id, user)
    _ready(m)
    return await _recording_command(request, m, user, c.PublishRecording)


@router.delete(
    "/v1/recordings/{recording_id}/publish", response_model=RecordingView, responses=COMMAND
)
async def unpublish(
    recording_id: RecordingIdPath, request: Request, user: CurrentUser
) -> RecordingView:
    """Back to the host and co-hosts only."""
    m = _own(request, recording_id, user)
    return await _recording_command(request, m, user, c.UnpublishRecording)


@router.delete("/v1/recordings/{recording_id}", status_code=204, responses=COMMAND)
async def delete(recording_id: RecordingIdPath, request: Request, user: CurrentUser) -> Response:
    """Delete every stored file of the recording (and its clips); the manifest says deleted."""
    m = _own(request, recording_id, user)
    if m.status == "processing":
        raise Problem(
            409, "recording_not_ready", "The recording is still being finished; delete it after."
        )
    await run_command(request, c.DeleteRecording(**command_fields(m.room_id, user)))
    await delete_recording(_store(request), m.recording_id)
    await _fresh(request, m, AFTER[c.DeleteRecording])  # this gateway answers 404 from now on
    return Response(status_code=204)


@router.post(
    "/v1/recordings/{recording_id}/clips",
    status_code=201,
    response_model=ClipView,
    responses=COMMAND,
)
async def create_clip(
    recording_id: RecordingIdPath, body: ClipBody, request: Request, user: CurrentUser
) -> ClipView:
    """Cut ``[start, end)`` into a file of its own (the room's packets, no re-encode)."""
    m = _own(request, recording_id, user)
    _ready(m)
    assert m.web is not None
    if m.duration_seconds is not None and body.start >= m.duration_seconds:
        raise Problem(
            422, "clip_out_of_range",
            f"The recording is {m.duration_seconds:.1f} s long; the clip starts after it.",
        )  # fmt: skip
    store = _store(request)
    source = await store.get(m.web.uri)
    if source is None:
        raise Problem(404, "recording_not_found", "The recording's file is gone.")
    try:
        data = await asyncio.to_thread(cut_clip, source, body.start, body.end)
    except ValueError as exc:
        raise Problem(422, "clip_out_of_range", f"The clip cannot be cut: {exc}.") from exc
    clip_id = uuid.uuid4()
    key = clip_key(m.recording_id, clip_id)
    await store.put(key, data, "audio/ogg", "public, max-age=3600")
    command = c.CreateClip(
        **command_fields(m.room_id, user),
        clip_id=clip_id,
        title=body.title,
        start_seconds=body.start,
        end_seconds=body.end,
        uri=key,
        bytes=len(data),
    )
    try:
        await run_command(request, command)
    except Problem:
        await store.delete([key])
        raise
    await _fresh(request, m, lambda x: any(clip.clip_id == clip_id for clip in x.clips))
    url = f"{_base(request)}/v1/recordings/{m.recording_id}/clips/{clip_id}/audio"
    return ClipView(
        clip_id=clip_id,
        title=body.title,
        start_seconds=body.start,
        end_seconds=body.end,
        bytes=len(data),
        url=url,
        created_at=command.issued_at,
        created_by=user.user_id,
    )


@router.put("/v1/rooms/{room_id}/recording", response_model=RoomView, responses=COMMAND)
async def set_recording(
    room_id: RoomIdPath, body: RecordingSettingBody, request: Request, user: CurrentUser
) -> RoomView:
    """The host turns recording on or off (until the room ends)."""
    command = c.SetRecording(**command_fields(room_id, user), enabled=body.enabled)
    _, state = await run_command(request, command)
    return RoomView.of(state, request.app.state.rooms.listener_counts(room_id))
