"""A room's recording manifest: what the replay page and podcast feeds need to know.

Kept by the manifest agent on ``stoa.recording-manifests`` (compacted, keyed by
room id) and rebuilt by replay (``projections.manifest``). Times of day are
kept as they happened; offsets (chapters, turns, chunks, clips, transcript
segments) count seconds from the room's start, which is where the recording's
timeline starts. The transcript itself lives in the archive (it can be long);
the manifest only says that there is one and where to read it.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.base import WireModel
from schemas.room import Chapter, Role

Status = Literal["scheduled", "recording", "processing", "ready", "empty", "off", "deleted"]

MAX_PARTICIPANTS = 2000
"""People kept by name; beyond that only counted (a manifest is one log record)."""


class Span(WireModel):
    """One stay in the room."""

    joined_at: datetime
    left_at: datetime | None = None


class Participant(WireModel):
    user_id: str
    role: Role
    """The last role the person had in the room."""
    spans: tuple[Span, ...] = ()


class Turn(WireModel):
    """Someone talking, from ``start`` to ``end`` seconds into the room."""

    user_id: str
    start: float = Field(ge=0)
    end: float | None = None


class Chunk(WireModel):
    index: int = Field(ge=0)
    uri: str
    start_seconds: float
    duration_seconds: float
    bytes: int


class StoredFile(WireModel):
    uri: str
    bytes: int | None = None
    format: Literal["opus", "m4a", "mp3"]


class Clip(WireModel):
    clip_id: UUID
    title: str | None = None
    start_seconds: float
    end_seconds: float
    uri: str
    bytes: int
    created_at: datetime
    created_by: str


class RecordingManifest(WireModel):
    recording_id: UUID
    room_id: str
    host_id: str
    cohost_ids: tuple[str, ...] = ()
    title: str
    topics: tuple[str, ...] = ()
    room_status: Literal["scheduled", "live", "ended"] = "scheduled"
    recording_enabled: bool = True
    published: bool = False
    deleted: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    recording_started: bool = False
    chunks: tuple[Chunk, ...] = ()
    web: StoredFile | None = None
    podcast: StoredFile | None = None
    duration_seconds: float | None = None
    missing_seconds: float = 0.0
    chapters: tuple[Chapter, ...] = ()
    turns: tuple[Turn, ...] = ()
    participants: tuple[Participant, ...] = ()
    """By user id; stays as the edges reported them (see ``people``)."""
    unnamed_listeners: int = 0
    """Joins past ``MAX_PARTICIPANTS`` people: counted, not named."""
    clips: tuple[Clip, ...] = ()
    transcript_uri: str | None = None
    """The transcript's API path (JSON), once a segment was heard; None until then."""
    captions_uri: str | None = None
    """The same transcript as WebVTT captions, for players."""
    transcript_segments: int = 0
    """Final segments folded in (from ``stoa.transcripts``)."""
    transcript_end_seconds: float | None = None
    """Where the last segment folded in ends, in seconds from the room's start."""
    transcript_last_segment: UUID | None = None
    """With ``transcript_end_seconds``, the mark a redelivered segment is recognised by."""
    room_version: int = 0
    """The last ``stoa.room-events`` seq folded in."""

    def people(self) -> list[Participant]:
        """Participants as the room saw them: stays cut at the room's end, and nobody who
        only came after it."""
        end = self.ended_at
        if end is None:
            return list(self.participants)
        people = []
        for person in self.participants:
            spans = tuple(
                s.model_copy(update={"left_at": min(s.left_at or end, end)})
                for s in person.spans
                if s.joined_at < end
            )
            if spans or not person.spans:
                people.append(person.model_copy(update={"spans": spans}))
        return people

    @property
    def listeners_total(self) -> int:
        """Everyone who listened while the room was on."""
        return sum(1 for p in self.people() if p.spans) + self.unnamed_listeners

    @property
    def status(self) -> Status:
        if self.deleted:
            return "deleted"
        if self.web is not None:
            return "ready"
        if self.room_status == "scheduled":
            return "scheduled"
        if self.room_status == "live":
            return "recording" if self.recording_enabled else "off"
        if self.chunks:
            return "processing"
        return "empty" if self.recording_enabled else "off"
