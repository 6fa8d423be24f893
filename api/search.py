"""Transcript search: ``GET /v1/search?q=`` finds the moments a room said the words.

A hit is one transcript segment holding every word of the query (whole words, any
case), with what a client needs to go there: the room and its title, the recording when
the caller may play it, and the segment's offsets on the recording's timeline (ready
for a clip). Newest rooms first, then in time order within a room; a page is
``limit``/``offset`` with ``next_offset`` while there is more.

Who finds what: anyone could listen to a live room, so what was said there is findable
by anyone; a deleted recording takes its room's words out of search. The recording id is
given only to those who may play it (published, or its host and co-hosts).

Words are split the way ClickHouse splits tokens (runs of ASCII letters and digits and of
non-ASCII characters), so each is a ``hasToken`` the index (``tokenbf_v1`` on the
lower-cased text, migration 003) can answer.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import MaybeUser, User
from api.problems import responses
from api.recordings import ANYONE
from api.transcripts import ARCHIVE_RESPONSES, ask
from schemas.manifest import RecordingManifest
from schemas.room import RoomState

router = APIRouter(tags=["search"])

MAX_QUERY = 200
MAX_WORDS = 12
WORD = re.compile(r"[0-9A-Za-z\x80-\U0010ffff]+")
"""A token as ClickHouse's ``hasToken`` and ``tokenbf_v1`` see one."""
HAS_WORD = r"[0-9A-Za-z]|[^\x00-\x7f]"
"""The query's pattern in the OpenAPI document: at least one character of a word."""

RoomStatus = Literal["scheduled", "live", "ended"]


def words(q: str) -> list[str]:
    """The query's distinct words, lower-cased, in order (at most ``MAX_WORDS``)."""
    found: list[str] = []
    for word in WORD.findall(q.lower()):
        if word not in found:
            found.append(word)
    return found[:MAX_WORDS]


def search_sql(count: int) -> str:
    """One ``hasToken`` per word (``{w0}``, ``{w1}``, ...), all required."""
    matches = " AND ".join(f"hasToken(lowerUTF8(text), {{w{i}:String}})" for i in range(count))
    return f"""
SELECT room_id, segment_id, start_seconds, end_seconds, speaker_id, text, occurred_at
FROM stoa.transcript_segments FINAL
WHERE {matches} AND room_id NOT IN {{hidden:Array(String)}}
ORDER BY max(occurred_at) OVER (PARTITION BY room_id) DESC, room_id, start_seconds, segment_id
LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
"""


class SearchHit(BaseModel):
    room_id: str
    room_title: str
    room_status: RoomStatus | None = Field(
        description="`live` rooms can be joined; null for a room this server does not know."
    )
    recording_id: UUID | None = Field(
        description="The room's recording, when there is one the caller may play."
    )
    segment_id: UUID
    start: float = Field(description="Seconds from the room's start (the recording's timeline).")
    end: float
    speaker_id: str | None
    text: str
    said_at: datetime


class SearchPage(BaseModel):
    query: str
    words: list[str] = Field(description="The words every hit holds, lower-cased.")
    items: list[SearchHit]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Ask again with this offset for more.")


Q = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY,
        pattern=HAS_WORD,
        description="Words to find, all of them, in any case (whole words).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=50, description="Hits per page.")]
Offset = Annotated[int, Query(ge=0, le=1000, description="Hits to skip (`next_offset`).")]


def _utc(value: datetime | str) -> datetime:
    """The archive's times are UTC; over the archiver's endpoint they come as ISO text."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _may_play(m: RecordingManifest, user: User | None) -> bool:
    if m.deleted or m.status not in ("recording", "processing", "ready"):
        return False
    if m.published:
        return True
    return user is not None and (user.user_id == m.host_id or user.user_id in m.cohost_ids)


@router.get(
    "/v1/search",
    response_model=SearchPage,
    responses={**responses(401, 422), **ARCHIVE_RESPONSES},
    openapi_extra=ANYONE,
)
async def search(
    request: Request, user: MaybeUser, q: Q, limit: Limit = 20, offset: Offset = 0
) -> SearchPage:
    """Find where rooms said something: every word of ``q``, newest rooms first."""
    wanted = words(q)
    manifests: dict[str, RecordingManifest] = request.app.state.manifests.by_room
    rooms: dict[str, RoomState] = request.app.state.rooms.rooms
    hidden = [room_id for room_id, m in manifests.items() if m.deleted]
    parameters: dict[str, object] = {f"w{i}": w for i, w in enumerate(wanted)}
    parameters |= {"hidden": hidden, "limit": limit + 1, "offset": offset}
    result = await ask(request, search_sql(len(wanted)), parameters)
    items = []
    for room_id, segment_id, start, end, speaker, text, said_at in result.rows[:limit]:
        room, m = rooms.get(room_id), manifests.get(room_id)
        title = room.title if room is not None else m.title if m is not None else room_id
        items.append(
            SearchHit(
                room_id=room_id,
                room_title=title,
                room_status=room.status if room is not None else None,
                recording_id=m.recording_id if m is not None and _may_play(m, user) else None,
                segment_id=UUID(str(segment_id)),
                start=start,
                end=max(end, start),
                speaker_id=speaker or None,
                text=text,
                said_at=_utc(said_at),
            )
        )
    more = len(result.rows) > limit
    return SearchPage(
        query=q,
        words=wanted,
        items=items,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )
