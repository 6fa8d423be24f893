"""Transcripts in the gateway: read-only access to the archive's transcript index, and a
recording's transcript as JSON or WebVTT.

The speech-to-text worker publishes final segments on ``stoa.transcripts``; the archiver
files every one into ``stoa.transcript_segments`` (a materialized view, migration 003).
That table is the one place the gateway reads transcripts from, for a recording's
transcript and for search (``api.search``): a manifest only says that there is a
transcript, since a long room's words would not fit in one log record.

The gateway never opens embedded chDB itself: the archiver owns that directory while the
stack runs, and a second opener would lock the archiver out. So it asks the running
archiver's loopback endpoint, or the ClickHouse server of ``STOA_CLICKHOUSE_URL``; when
neither answers, routes say 503 ``archive_unavailable`` (never a 500), and everything
else in the gateway carries on. Queries are blocking calls, run on a small thread pool.
"""

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import clickhouse_connect
import httpx
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import MaybeUser
from api.problems import Problem, responses
from api.recording_views import RecordingIdPath
from api.recordings import ANYONE, visible
from events.archive.remote import QueryError, ReadOnlyArchive, RemoteArchive
from events.archive.store import Archive, ClickHouseArchive, Result
from media.webvtt import Cue, render

log = logging.getLogger("stoa.gateway.transcripts")

router = APIRouter(tags=["recordings"])

QUERY_SECONDS = 10.0
"""A search or transcript that takes longer is answered 503: the archive is overloaded."""
MAX_SEGMENTS = 20_000
"""A transcript's segments at most (about 10 hours of talk)."""
VTT_TYPE = "text/vtt"


class ArchiveUnavailable(Exception):
    """The archive cannot answer now: no archiver running, a server down, a query refused."""


class TranscriptArchive:
    """The gateway's read-only way into the archive (see the module's docstring)."""

    def __init__(self, clickhouse_url: str | None, endpoint_file: Path) -> None:
        self.clickhouse_url = clickhouse_url
        self.endpoint_file = endpoint_file
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="archive-read")
        self._server: Archive | None = None
        self._remote: RemoteArchive | None = None

    def _archive(self) -> Archive:
        if self.clickhouse_url:
            if self._server is None:
                # no session: the pool's threads may query at the same time
                client = clickhouse_connect.get_client(
                    dsn=self.clickhouse_url, autogenerate_session_id=False
                )
                self._server = ReadOnlyArchive(ClickHouseArchive(client))
            return self._server
        try:
            url = self.endpoint_file.read_text().strip()
        except FileNotFoundError:
            raise ArchiveUnavailable("no archiver is running") from None
        if self._remote is None or self._remote.url != url:
            self._remote = RemoteArchive(url)  # the archiver restarted on another port
        return self._remote

    def _query(self, sql: str, parameters: dict[str, Any]) -> Result:
        try:
            return self._archive().query(sql, parameters)
        except ArchiveUnavailable:
            raise
        except (httpx.HTTPError, QueryError, OSError) as exc:
            raise ArchiveUnavailable(str(exc)) from exc
        except Exception as exc:  # clickhouse-connect's errors for a server that is down
            raise ArchiveUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Result:
        """Run ``sql`` off the event loop; ``ArchiveUnavailable`` if it cannot be answered."""
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self.pool, self._query, sql, parameters or {})
        try:
            return await asyncio.wait_for(call, QUERY_SECONDS)
        except TimeoutError as exc:
            raise ArchiveUnavailable(f"no answer within {QUERY_SECONDS:.0f} s") from exc

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def archive_of(request: Request) -> TranscriptArchive:
    archive: TranscriptArchive = request.app.state.transcripts
    return archive


async def ask(request: Request, sql: str, parameters: dict[str, Any]) -> Result:
    """The archive's answer, or the 503 problem that says why there is none."""
    try:
        return await archive_of(request).query(sql, parameters)
    except ArchiveUnavailable as exc:
        log.warning("archive unavailable for %s: %s", request.url.path, exc)
        raise Problem(
            503,
            "archive_unavailable",
            "Transcripts cannot be read right now (the archive is not answering); "
            "try again in a minute.",
            headers={"Retry-After": "30"},
        ) from exc


ARCHIVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        **responses(503)[503],
        "description": "The archive, where transcripts are kept, is not answering "
        "(`archive_unavailable`); `Retry-After` says when to try again.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}


# --- a recording's transcript ----------------------------------------------------------


class Segment(BaseModel):
    """Words said, from ``start`` to ``end`` seconds into the recording (= into the room)."""

    segment_id: UUID
    start: float
    end: float
    speaker_id: str | None = Field(description="Who said it; null when nobody was attributed.")
    text: str


class TranscriptView(BaseModel):
    recording_id: UUID
    room_id: str
    segments: list[Segment]
    captions_url: str = Field(description="The same transcript as WebVTT.")


SEGMENTS = """
SELECT segment_id, start_seconds, end_seconds, speaker_id, text
FROM stoa.transcript_segments FINAL
WHERE room_id = {room_id:String}
ORDER BY start_seconds, end_seconds, segment_id
LIMIT {limit:UInt32}
"""


def segments_of(result: Result) -> list[Segment]:
    return [
        Segment(
            segment_id=UUID(str(segment_id)),
            start=start,
            end=max(end, start),
            speaker_id=speaker or None,
            text=text,
        )
        for segment_id, start, end, speaker, text in result.rows
    ]


def webvtt(segments: Sequence[Segment]) -> str:
    """The transcript as WebVTT captions, the speaker as each cue's voice (``<v>``)."""
    cues = [
        Cue(
            str(segment.segment_id),
            segment.start,
            max(segment.end, segment.start + 0.001),  # a cue must end after it starts
            " ".join(segment.text.split()),
            segment.speaker_id,
        )
        for segment in segments
        if segment.text.strip()
    ]
    return render(cues, header="WEBVTT\n")


def wants_vtt(format: str | None, accept: str | None) -> bool:
    """``?format=`` decides; without it, an ``Accept`` that names text/vtt and not JSON."""
    if format is not None:
        return format == "vtt"
    accepted = (accept or "").lower()
    return VTT_TYPE in accepted and "application/json" not in accepted


TranscriptFormat = Annotated[
    Literal["json", "vtt"] | None,
    Query(description="`json` (default) or `vtt` (WebVTT captions); `Accept: text/vtt` too."),
]

TRANSCRIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The transcript: JSON segments, or WebVTT with `format=vtt`.",
        "content": {VTT_TYPE: {"schema": {"type": "string"}}},
    },
    **responses(401, 403, 404, 422),
    **ARCHIVE_RESPONSES,
}


@router.get(
    "/v1/recordings/{recording_id}/transcript",
    response_model=TranscriptView,
    responses=TRANSCRIPT_RESPONSES,
    openapi_extra=ANYONE,
)
async def recording_transcript(
    recording_id: RecordingIdPath,
    request: Request,
    user: MaybeUser,
    format: TranscriptFormat = None,
) -> Response:
    """What was said, in order, with speakers and offsets on the recording's timeline.

    Who may read it is who may hear the recording: anyone once it is published, its host
    and co-hosts before. While the room is live it holds what was said so far.
    """
    m = visible(request, recording_id, user)
    result = await ask(request, SEGMENTS, {"room_id": m.room_id, "limit": MAX_SEGMENTS})
    segments = segments_of(result)
    cache = "public, max-age=60" if m.published else "private, no-cache"
    if wants_vtt(format, request.headers.get("accept")):
        return Response(
            webvtt(segments),
            media_type=VTT_TYPE,
            headers={"Cache-Control": cache, "Vary": "Accept"},
        )
    base = str(request.base_url).rstrip("/")
    path = f"{base}/v1/recordings/{m.recording_id}/transcript"
    view = TranscriptView(
        recording_id=m.recording_id,
        room_id=m.room_id,
        segments=segments,
        captions_url=f"{path}?format=vtt",
    )
    return Response(
        view.model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": cache, "Vary": "Accept"},
    )
