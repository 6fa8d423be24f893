"""HLS for a room: its live playlist and media, read from the object store, checked per request.

The segmenter (``media.hls_node``) writes the rendition; these routes decide
who may read it. Every request carries the listener's media token in the
query (``?token=``: a player cannot add headers to the URLs a playlist
names), and every request is checked: the token (401 missing, invalid or
expired; 403 for another room's) and the room as it is now (403 removed,
404 unknown, 409 not started). The playlist is served with each URI
rewritten to carry the caller's own token, so a player's segment requests
are checked the same way.

**Ended rooms.** A listener who holds a valid token keeps reading the
rendition after the room ends, so a player reaches the final playlist and its
``EXT-X-ENDLIST`` and stops cleanly instead of failing on a 409; no new token
can be had for an ended room (join refuses it). A room that ended without
ever having audio answers 409.

**Before the first audio** there is no playlist: 404 ``hls_not_started``, to
be retried (the segmenter writes the playlist with the first 200 ms part).

**Captions.** ``index.m3u8`` is the audio's media playlist, the URL a join
answer gives. ``multivariant.m3u8`` names it together with the room's live
captions (``captions.m3u8``: WebVTT segments ``{n}.vtt``, aligned with the
audio's ``{n}.m4s``) as a subtitles rendition, for players that show them.
All are checked and rewritten like the audio playlist.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api.auth import Authenticator
from api.problems import Problem, responses
from api.views import RoomIdPath
from events.readmodel import RoomReadModel
from infra.objects import ObjectStoreClient
from infra.settings import Settings
from media.playlist import with_query
from media.rendition import (
    ENDED_PLAYLIST_CACHE,
    HELD_PLAYLIST_CACHE,
    LIVE_PLAYLIST_CACHE,
    MEDIA_CACHE,
    MEDIA_NAME,
    MEDIA_TYPE,
    PLAYLIST_TYPE,
    NotYet,
    RenditionStore,
    TooFarAhead,
    key,
)
from media.segmenter import CAPTIONS_PLAYLIST, MULTIVARIANT, PLAYLIST, captions_name
from media.segmenter import multivariant as multivariant_text
from media.tokens import TokenRefused
from media.webvtt import MEDIA_TYPE as CAPTIONS_TYPE
from projections.admission import admit
from schemas.commands import Rejection

router = APIRouter(prefix="/v1/rooms", tags=["hls"])

NO_STORE = {"Cache-Control": "no-store"}
"""Refusals are about one caller at one moment: no cache may keep them."""

TokenQuery = Annotated[
    str,
    Query(
        description="The media token from `POST /v1/rooms/{room_id}/join` (its `listen.hls` URL "
        "carries one). Missing, invalid or expired: 401; another room's: 403.",
        max_length=4096,
    ),
]
MsnQuery = Annotated[
    int | None,
    Query(
        alias="_HLS_msn",
        ge=0,
        lt=10**12,
        description="LL-HLS blocking reload: answer once the playlist holds this segment.",
    ),
]
PartQuery = Annotated[
    int | None,
    Query(
        alias="_HLS_part",
        ge=0,
        lt=1000,
        description="LL-HLS blocking reload: ... and this part of it (needs `_HLS_msn`).",
    ),
]
NamePath = Annotated[
    str,
    Path(
        description="`init.mp4`, a segment `{n}.m4s` or a part `{n}.{i}.m4s`, as the playlist "
        "names them.",
        pattern=MEDIA_NAME.pattern,
        max_length=32,
    ),
]

MsnPath = Annotated[
    int,
    Path(description="The segment: the same seqs as the audio's `{msn}.m4s`.", ge=0, lt=10**12),
]

_CACHE_HEADER = {
    "Cache-Control": {
        "description": "How long a CDN may keep the answer.",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _said(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """``api.problems.responses`` for one status, with what it means here."""
    declared = responses(status)
    declared[status] = {**declared[status], "description": description}
    return declared


_REFUSALS = {
    **responses(401, 403, 409, 422),
    **_said(
        404,
        "No such room (`room_not_found`), no audio yet (`hls_not_started`: retry in a second), "
        "or no such file (`hls_not_found`).",
    ),
}


def _store(app: Any) -> RenditionStore:
    """The gateway's reader of renditions, opened on first use from ``STOA_OBJECT_STORE_URL``."""
    store: RenditionStore | None = getattr(app.state, "hls_renditions", None)
    if store is None:
        settings: Settings = app.state.settings
        store = RenditionStore(ObjectStoreClient.from_settings(settings))
        app.state.hls_renditions = store
    return store


def _check(app: Any, room_id: str, token: str) -> None:
    """Refuse the request unless the token's holder may hear the room (or heard it to its end)."""
    auth: Authenticator = app.state.auth
    try:
        grant = auth.media.grant(token, room_id)
    except TokenRefused as refused:
        raise Problem(refused.status, refused.code, refused.detail, NO_STORE) from refused
    rooms: RoomReadModel = app.state.rooms
    state = rooms.rooms.get(room_id)
    admitted = admit(state, room_id, grant.user_id, "listen", grant.role)
    relay = grant.relay and state is not None  # a service reading for others (a CDN's shield)
    if isinstance(admitted, Rejection) and not relay and admitted.code != "room_ended":
        raise Problem(admitted.status, admitted.code, admitted.detail, NO_STORE)


def _missing(app: Any, room_id: str, what: str) -> Problem:
    if what != "playlist":
        return Problem(404, "hls_not_found", f"There is no {what} of this room's HLS.", NO_STORE)
    state = app.state.rooms.rooms.get(room_id)
    if state is not None and state.status == "ended":  # ended without ever having audio
        return Problem(409, "room_ended", "This room has ended.", NO_STORE)
    detail = "The room has no audio yet; its HLS playlist starts with the first speaker."
    return Problem(404, "hls_not_started", detail, {**NO_STORE, "Retry-After": "1"})


@router.get(
    "/{room_id}/hls/index.m3u8",
    response_class=Response,
    responses={
        200: {
            "description": "The live media playlist (RFC 8216bis, LL-HLS); every URI in it "
            "carries the caller's token. It ends with `#EXT-X-ENDLIST` once the room ends.",
            "content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}},
            "headers": _CACHE_HEADER,
        },
        **_said(400, "`_HLS_part` without `_HLS_msn`, or a segment too far ahead to wait for."),
        **_REFUSALS,
        **_said(503, "A blocking reload's segment or part did not come in time (`hls_not_yet`)."),
    },
)
async def playlist(
    room_id: RoomIdPath,
    request: Request,
    token: TokenQuery = "",
    msn: MsnQuery = None,
    part: PartQuery = None,
) -> Response:
    """The room's HLS playlist: 1 s fMP4 (CMAF) segments of the room's 64 kbps Opus mix.

    Segment `n` holds the listen protocol's seqs `50n`..`50n+49` (its `tfdt`
    is `seq * 960` at 48 kHz); each `EXT-X-PROGRAM-DATE-TIME` is the capture
    time of its first frame; 200 ms parts, preload hints and blocking reloads
    (`_HLS_msn`, `_HLS_part`) follow LL-HLS. An `EXT-X-DATERANGE` of class
    `dev.stoa.tier` says the room's delivery tier (`X-TIER`): a client that
    moved to HLS goes back to the WebSocket when it is no longer `hls`.

    **Behind a CDN.** Answers are cacheable (`public`): the playlist for 1 s
    (a blocking reload's answer for 6 s, a closed playlist for an hour),
    segments and parts for a year (`immutable`: a name always means the same
    seqs). The token is part of the URL, so a CDN that caches by full URL is
    safe as it is: it only gives an answer again to a request carrying the same
    token, which was checked. Caching by token costs the sharing, though. To
    share one cached copy among listeners, the CDN must check the token itself
    (an edge function with the HS256 secret: signature, `exp`, `aud`, `room`)
    and then drop `token` from the cache key, forwarding the rest; it cannot
    see removals, so keep the playlist's lifetime short as it is. Refusals are
    `no-store`.
    """
    _check(request.app, room_id, token)
    store = _store(request.app)
    cache = LIVE_PLAYLIST_CACHE
    if part is not None and msn is None:
        raise Problem(400, "bad_blocking_request", "`_HLS_part` needs `_HLS_msn`.", NO_STORE)
    if msn is None:
        text = await store.playlist(room_id)
    else:
        cache = HELD_PLAYLIST_CACHE
        try:
            text = await store.playlist_with(room_id, msn, part)
        except TooFarAhead as exc:
            detail = f"Segment {msn} is too far ahead of the playlist to wait for."
            raise Problem(400, "bad_blocking_request", detail, NO_STORE) from exc
        except NotYet as exc:
            detail = f"Segment {msn} did not come in time; reload the playlist."
            raise Problem(503, "hls_not_yet", detail, NO_STORE) from exc
    if text is None:
        raise _missing(request.app, room_id, "playlist")
    if "#EXT-X-ENDLIST" in text:
        cache = ENDED_PLAYLIST_CACHE
    return _playlist_response(text, token, cache)


async def _stored(app: Any, room_id: str, name: str) -> bytes | None:
    """A file of the rendition that is neither audio media nor the audio playlist."""
    return await _store(app).objects.get(key(room_id, name))


def _playlist_response(text: str, token: str, cache: str) -> Response:
    return Response(
        with_query(text, f"token={token}"),
        media_type=PLAYLIST_TYPE,
        headers={"Cache-Control": cache},
    )


@router.get(
    "/{room_id}/hls/multivariant.m3u8",
    response_class=Response,
    responses={
        200: {
            "description": "The multivariant playlist: the audio (`index.m3u8`) and its live "
            "captions as a subtitles rendition (`captions.m3u8`); every URI in it carries the "
            "caller's token.",
            "content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}},
            "headers": _CACHE_HEADER,
        },
        **_REFUSALS,
    },
)
async def multivariant(room_id: RoomIdPath, request: Request, token: TokenQuery = "") -> Response:
    """The room's HLS with captions: one variant, the audio, with `SUBTITLES="captions"`.

    It never changes, so it is cached for an hour. The segmenter stores it with the first
    complete segment; until then, it is the same text as soon as the audio playlist exists
    (a listener handed the audio playlist's URL may ask for this one at once).
    404 `hls_not_started` before that, to be retried.
    """
    _check(request.app, room_id, token)
    data = await _stored(request.app, room_id, MULTIVARIANT)
    if data is None and await _stored(request.app, room_id, PLAYLIST) is not None:
        data = multivariant_text().encode()
    if data is None:
        raise _missing(request.app, room_id, "playlist")
    return _playlist_response(data.decode(), token, ENDED_PLAYLIST_CACHE)


@router.get(
    "/{room_id}/hls/captions.m3u8",
    response_class=Response,
    responses={
        200: {
            "description": "The captions' media playlist: a WebVTT segment for each complete "
            "audio segment, with the same media sequence numbers, durations and window; every "
            "URI carries the caller's token. It ends with `#EXT-X-ENDLIST` once the room ends.",
            "content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}},
            "headers": _CACHE_HEADER,
        },
        **_REFUSALS,
    },
)
async def captions(room_id: RoomIdPath, request: Request, token: TokenQuery = "") -> Response:
    """The room's live captions as HLS subtitles (final captions only, as WebVTT).

    Segment `n.vtt` covers the same time as `n.m4s`: it holds the final captions
    overlapping it, and captions that were final only after their own segments were
    out (with their true times). Cue times are seconds from the room's start, mapped to
    the audio by `X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000` (the audio's decode time
    is `seq * 960` at 48 kHz, i.e. seconds from the room's start as well); a known
    speaker is a voice span (`<v ann>`); the cue's identifier is the caption's
    `segment_id`. No blocking reload: reload it every target duration.
    """
    _check(request.app, room_id, token)
    data = await _stored(request.app, room_id, CAPTIONS_PLAYLIST)
    if data is None:
        raise _missing(request.app, room_id, "playlist")
    text = data.decode()
    cache = ENDED_PLAYLIST_CACHE if "#EXT-X-ENDLIST" in text else LIVE_PLAYLIST_CACHE
    return _playlist_response(text, token, cache)


@router.get(
    "/{room_id}/hls/{msn}.vtt",
    response_class=Response,
    responses={
        200: {
            "description": "A WebVTT segment of the captions.",
            "content": {CAPTIONS_TYPE: {"schema": {"type": "string"}}},
            "headers": _CACHE_HEADER,
        },
        **_REFUSALS,
    },
)
async def captions_segment(
    room_id: RoomIdPath, msn: MsnPath, request: Request, token: TokenQuery = ""
) -> Response:
    """One WebVTT segment of the captions; cached for a year (`immutable`), like the audio's."""
    _check(request.app, room_id, token)
    data = await _stored(request.app, room_id, captions_name(msn))
    if data is None:
        raise _missing(request.app, room_id, captions_name(msn))
    return Response(data, media_type=CAPTIONS_TYPE, headers={"Cache-Control": MEDIA_CACHE})


@router.get(
    "/{room_id}/hls/{name}",
    response_class=Response,
    responses={
        200: {
            "description": "The init segment, a segment or a part (fMP4, Opus).",
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "headers": _CACHE_HEADER,
        },
        **_REFUSALS,
    },
)
async def media(
    room_id: RoomIdPath, name: NamePath, request: Request, token: TokenQuery = ""
) -> Response:
    """One file of the room's HLS rendition; a part the playlist hints at is waited for (LL-HLS).

    Cached for a year (`immutable`); see the playlist for how a CDN should treat the token.
    """
    _check(request.app, room_id, token)
    data = await _store(request.app).media(room_id, name)
    if data is None:
        raise _missing(request.app, room_id, name)
    return Response(data, media_type=MEDIA_TYPE, headers={"Cache-Control": MEDIA_CACHE})
