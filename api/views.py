"""Request bodies and response shapes of the HTTP API."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from projections.room import Chapter, Hand, RoomState
from schemas.base import UserId
from schemas.events import Topic


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRoomBody(Body):
    title: str = Field(min_length=1, max_length=140)
    topics: list[Topic] = Field(default_factory=list, max_length=5)
    scheduled_for: AwareDatetime | None = None
    start_now: bool = False


class ReportBody(Body):
    target_user_id: UserId | None = None
    reason: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class ChapterBody(Body):
    title: str = Field(min_length=1, max_length=140)


class DevTokenBody(Body):
    user_id: UserId
    display_name: str | None = Field(default=None, max_length=80)


class TokenOut(BaseModel):
    token: str


class RoomView(BaseModel):
    room_id: str
    host_id: str
    title: str
    topics: list[str]
    status: Literal["scheduled", "live", "ended"]
    scheduled_for: datetime | None
    cohost_ids: list[str]
    speaker_ids: list[str]
    muted_ids: list[str]
    hands: list[Hand]
    listener_count: int
    peak_listeners: int
    pinned: bool
    chapters: list[Chapter]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    version: int

    @classmethod
    def of(cls, state: RoomState, listeners: tuple[int, int]) -> "RoomView":
        data = state.model_dump(exclude={"removed_ids", "report_count"})
        return cls(**data, listener_count=listeners[0], peak_listeners=listeners[1])


class ListenUrls(BaseModel):
    websocket: str
    hls: str
    whep: str


class PublishUrls(BaseModel):
    whip: str


class JoinOut(BaseModel):
    token: str
    role: Literal["host", "cohost", "speaker", "listener"]
    listen: ListenUrls
    publish: PublishUrls | None = None
    room: RoomView


class ReportOut(BaseModel):
    report_id: str
    version: int
