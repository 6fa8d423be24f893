"""What the recording routes accept and answer."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.views import Body
from schemas.manifest import Participant, RecordingManifest, Status, Turn
from schemas.room import Chapter

RecordingIdPath = Annotated[UUID, Path(description="The recording's id.")]
ClipIdPath = Annotated[UUID, Path(description="The clip's id.")]
FormatQuery = Annotated[
    Literal["opus", "m4a"],
    Query(description="`opus`: Ogg Opus for web players (default); `m4a`: AAC for podcast apps."),
]


class AudioFile(BaseModel):
    url: str
    bytes: int | None
    content_type: str


class ClipView(BaseModel):
    clip_id: UUID
    title: str | None
    start_seconds: float
    end_seconds: float
    bytes: int
    url: str
    created_at: datetime
    created_by: str


class RecordingView(BaseModel):
    recording_id: UUID
    room_id: str
    host_id: str
    cohost_ids: list[str]
    title: str
    topics: list[str]
    status: Status = Field(
        description="`recording` while the room is live, `processing` until the files are "
        "ready, `ready`; `off` when the host turned recording off, `empty` if nothing was heard."
    )
    published: bool
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    missing_seconds: float = Field(description="Room time the files hold as silence (lost).")
    audio: AudioFile | None = Field(description="For web players (seekable, byte ranges).")
    podcast: AudioFile | None = Field(description="AAC `.m4a` for podcast apps.")
    chapters: list[Chapter]
    turns: list[Turn] = Field(description="Who talked when, in seconds from the start.")
    participants: list[Participant]
    listeners_total: int
    clips: list[ClipView]
    transcript_url: str | None = Field(
        description="The transcript (JSON), once something was transcribed; null until then."
    )
    captions_url: str | None = Field(description="The transcript as WebVTT captions.")
    transcript_segments: int = Field(description="Transcript segments so far.")

    @classmethod
    def of(cls, m: RecordingManifest, base: str) -> "RecordingView":
        url = f"{base}/v1/recordings/{m.recording_id}"
        audio = podcast = None
        if m.web is not None:
            audio = AudioFile(url=f"{url}/audio", bytes=m.web.bytes, content_type="audio/ogg")
        if m.podcast is not None:
            podcast = AudioFile(
                url=f"{url}/audio?format=m4a", bytes=m.podcast.bytes, content_type="audio/mp4"
            )
        clips = [
            ClipView(**clip.model_dump(exclude={"uri"}), url=f"{url}/clips/{clip.clip_id}/audio")
            for clip in m.clips
        ]
        return cls(
            **m.model_dump(
                include={
                    "recording_id",
                    "room_id",
                    "host_id",
                    "cohost_ids",
                    "title",
                    "topics",
                    "published",
                    "started_at",
                    "ended_at",
                    "duration_seconds",
                    "missing_seconds",
                    "chapters",
                    "turns",
                }
            ),
            status=m.status,
            participants=m.people(),
            listeners_total=m.listeners_total,
            audio=audio,
            podcast=podcast,
            clips=clips,
            transcript_url=_absolute(m.transcript_uri, base),
            captions_url=_absolute(m.captions_uri, base),
            transcript_segments=m.transcript_segments,
        )


def _absolute(uri: str | None, base: str) -> str | None:
    """The manifest names API paths (a projection knows no origin); clients get URLs."""
    return f"{base}{uri}" if uri is not None and uri.startswith("/") else uri


class RecordingSummary(BaseModel):
    """A recording as a list shows it."""

    recording_id: UUID
    room_id: str
    host_id: str
    title: str
    topics: list[str]
    status: Status
    published: bool
    started_at: datetime | None
    duration_seconds: float | None

    @classmethod
    def of(cls, m: RecordingManifest) -> "RecordingSummary":
        return cls(**m.model_dump(include=set(cls.model_fields) - {"status"}), status=m.status)


class RecordingList(BaseModel):
    items: list[RecordingSummary]


class RecordingSettingBody(Body):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(description="Record the room from now on (true) or not (false).")


class ClipBody(Body):
    model_config = ConfigDict(extra="forbid", strict=True)

    start: float = Field(ge=0, le=86400, description="Seconds from the recording's start.")
    end: float = Field(gt=0, le=86400, description="Seconds from the recording's start.")
    title: str | None = Field(default=None, min_length=1, max_length=140)

    @model_validator(mode="after")
    def _ordered(self) -> "ClipBody":
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > 600:
            raise ValueError("a clip is at most 10 minutes long")
        return self
