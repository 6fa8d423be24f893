"""Request bodies, path parameters and response shapes of the HTTP API."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.base import RoomId, UserId
from schemas.events import Topic
from schemas.room import Chapter, Hand, RoomState


def _constraints(kind: Any) -> dict[str, Any]:
    """The string constraints of a wire type, so a path parameter is checked where it enters."""
    schema = TypeAdapter(kind).json_schema()
    return {
        "pattern": schema["pattern"],
        "min_length": schema["minLength"],
        "max_length": schema["maxLength"],
    }


RoomIdPath = Annotated[str, Path(description="The room's id.", **_constraints(RoomId))]
UserIdPath = Annotated[str, Path(description="The user acted on.", **_constraints(UserId))]
UserIdQuery = Annotated[str, Query(description="Whose.", **_constraints(UserId))]
SessionIdPath = Annotated[
    str,
    Path(
        description="The media session, from the `Location` of the answer that opened it.",
        pattern=r"^[A-Za-z0-9_-]+$",
        min_length=1,
        max_length=64,
    ),
]

MixingQuery = Annotated[
    Literal["server", "client"],
    Query(description="`server`: the room's mix; `client`: one track per speaker (at most 5)."),
]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00:00-05:00 is past the last datetime
        raise ValueError("the time is out of range") from exc


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRoomBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["start_now", "scheduled_for"],
                "properties": {"start_now": {"const": True}, "scheduled_for": {"type": "string"}},
            },
            "description": "A room starts now (`start_now`), at `scheduled_for`, or when its "
            "host starts it; not both now and at a time (422 `start_conflict`).",
        }
    )

    title: str = Field(min_length=1, max_length=140)
    topics: list[Topic] = Field(default_factory=list, max_length=5)
    scheduled_for: Annotated[AwareDatetime, AfterValidator(_to_utc)] | None = Field(
        default=None,
        description="When the room is planned to start; it must be in the future "
        "(422 `schedule_in_past`).",
    )
    start_now: bool = False
    recording: bool = Field(
        default=True, strict=True, description="Record the room (the host may change it)."
    )


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
    recording: bool = Field(description="Whether the room is recorded (the host's setting).")
    recording_published: bool
    recording_deleted: bool
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    version: int

    @classmethod
    def of(cls, state: RoomState, listeners: tuple[int, int]) -> "RoomView":
        data = state.model_dump(exclude={"removed_ids", "report_count"})
        return cls(**data, listener_count=listeners[0], peak_listeners=listeners[1])


class RoomSummary(BaseModel):
    """A room as a list shows it."""

    room_id: str
    title: str
    topics: list[str]
    host_id: str
    status: Literal["scheduled", "live", "ended"]
    stage_ids: list[str] = Field(description="Host, co-hosts and speakers, in that order.")
    cohost_ids: list[str]
    speaker_ids: list[str]
    listener_count: int
    created_at: datetime
    started_at: datetime | None
    scheduled_for: datetime | None

    @classmethod
    def of(cls, state: RoomState, listeners: int) -> "RoomSummary":
        stage = [state.host_id, *state.cohost_ids, *state.speaker_ids]
        return cls(
            **state.model_dump(
                include={"room_id", "title", "topics", "host_id", "status", "cohost_ids",
                         "speaker_ids", "created_at", "started_at", "scheduled_for"}
            ),
            stage_ids=stage,
            listener_count=listeners,
        )  # fmt: skip


class RoomList(BaseModel):
    rooms: list[RoomSummary]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class AuthConfig(BaseModel):
    """How the app signs people in on this server."""

    dev_auth: bool = Field(description="`POST /v1/auth/dev-token` is open (local use).")
    login_url: str | None = Field(
        description="Where to send people to sign in with the external issuer; it comes back "
        "to the app with `#token=<JWT>`."
    )


class ListenUrls(BaseModel):
    websocket: str = Field(
        description="The WebSocket to listen on: a relay in larger rooms, else the mixing node."
    )
    hls: str = Field(description="The room as HLS (the token is in the URL).")
    whep: str = Field(description="Receive-only WebRTC at the mixing node (Bearer: `token`).")
    tier: Literal["direct", "relay", "hls"] = Field(description="The room's delivery tier now.")
    preferred: Literal["websocket", "hls"] = Field(
        description="Which of the above to use: `hls` for passive listeners of a large room."
    )
    fallbacks: list[str] = Field(
        default_factory=list,
        description="Other WebSocket URLs, best first, to resume on if `websocket` goes away "
        "(pass `from=<next seq>` to get what was missed).",
    )


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


class Health(BaseModel):
    status: Literal["ok", "starting"]
    read_model_caught_up: bool
