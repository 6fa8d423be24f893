"""Event types: the facts of a live audio room.

Each event is a full envelope (``event_id, type, version, room_id, actor_id,
seq, occurred_at, data``) whose ``type`` selects the ``data`` model. ``seq``
is set on ``stoa.room-events`` (one more than the room's previous event) and
null on the other topics, whose ordering is per producer.
"""

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from schemas.base import RoomId, UserId, UtcDatetime, WireModel, by_type, tagged_union

Topic = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class Event(WireModel):
    """The envelope every event shares."""

    CURRENT_VERSION: ClassVar[int] = 1

    event_id: UUID
    type: str
    version: int = 1
    room_id: RoomId
    actor_id: UserId
    seq: int | None = Field(default=None, ge=1)
    occurred_at: UtcDatetime


class NoData(WireModel):
    pass


class UserData(WireModel):
    """Events about one user in a room (the target of a moderation action, a follow)."""

    user_id: UserId


# --- room lifecycle -------------------------------------------------------


class RoomCreatedData(WireModel):
    host_id: UserId
    title: str = Field(min_length=1, max_length=140)
    topics: tuple[Topic, ...] = Field(default=(), max_length=5)
    recording: bool = True
    """Whether the room is recorded (the host may change it until the room ends)."""


class RoomCreated(Event):
    """Version 2 replaced v1's single ``topic`` with ``topics`` (see ``schemas.upcast``)."""

    CURRENT_VERSION: ClassVar[int] = 2
    type: Literal["RoomCreated"] = "RoomCreated"
    version: int = 2
    data: RoomCreatedData


class RoomScheduledData(WireModel):
    scheduled_for: UtcDatetime


class RoomScheduled(Event):
    type: Literal["RoomScheduled"] = "RoomScheduled"
    data: RoomScheduledData


class RoomStarted(Event):
    type: Literal["RoomStarted"] = "RoomStarted"
    data: NoData = NoData()


class RoomEndedData(WireModel):
    reason: Literal["host", "moderation", "cancelled"] = "host"


class RoomEnded(Event):
    type: Literal["RoomEnded"] = "RoomEnded"
    data: RoomEndedData = RoomEndedData()


class RoomPinned(Event):
    type: Literal["RoomPinned"] = "RoomPinned"
    data: NoData = NoData()


class RoomUnpinned(Event):
    type: Literal["RoomUnpinned"] = "RoomUnpinned"
    data: NoData = NoData()


# --- roles ----------------------------------------------------------------


class CohostAdded(Event):
    type: Literal["CohostAdded"] = "CohostAdded"
    data: UserData


class CohostRemoved(Event):
    type: Literal["CohostRemoved"] = "CohostRemoved"
    data: UserData


class SpeakerPromoted(Event):
    type: Literal["SpeakerPromoted"] = "SpeakerPromoted"
    data: UserData


class SpeakerDemoted(Event):
    type: Literal["SpeakerDemoted"] = "SpeakerDemoted"
    data: UserData


class HandRaised(Event):
    type: Literal["HandRaised"] = "HandRaised"
    data: UserData


class HandLowered(Event):
    type: Literal["HandLowered"] = "HandLowered"
    data: UserData


class SpeakerMuted(Event):
    type: Literal["SpeakerMuted"] = "SpeakerMuted"
    data: UserData


class SpeakerUnmuted(Event):
    type: Literal["SpeakerUnmuted"] = "SpeakerUnmuted"
    data: UserData


class ParticipantRemoved(Event):
    type: Literal["ParticipantRemoved"] = "ParticipantRemoved"
    data: UserData


# --- presence (stoa.presence) ----------------------------------------------


class ListenerJoined(Event):
    type: Literal["ListenerJoined"] = "ListenerJoined"
    data: UserData


class ListenerLeft(Event):
    type: Literal["ListenerLeft"] = "ListenerLeft"
    data: UserData


# --- reports and chapters -------------------------------------------------


class ReportFiledData(WireModel):
    report_id: UUID
    target_user_id: UserId | None = None
    reason: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class ReportFiled(Event):
    type: Literal["ReportFiled"] = "ReportFiled"
    data: ReportFiledData


class ChapterMarkedData(WireModel):
    title: str = Field(min_length=1, max_length=140)
    offset_seconds: float = Field(ge=0)


class ChapterMarked(Event):
    type: Literal["ChapterMarked"] = "ChapterMarked"
    data: ChapterMarkedData


# --- media plane (stoa.media-events) ----------------------------------------


class SpeakerActivityData(WireModel):
    user_id: UserId
    talking: bool
    offset_seconds: float = Field(ge=0)
    level_dbfs: float | None = None


class SpeakerActivity(Event):
    type: Literal["SpeakerActivity"] = "SpeakerActivity"
    data: SpeakerActivityData


class MixingModeChangedData(WireModel):
    mode: Literal["server", "client"]
    reason: str = ""


class MixingModeChanged(Event):
    type: Literal["MixingModeChanged"] = "MixingModeChanged"
    data: MixingModeChangedData


class DistributionTierChangedData(WireModel):
    tier: Literal["direct", "relay", "hls"]
    listener_count: int = Field(ge=0)


class DistributionTierChanged(Event):
    type: Literal["DistributionTierChanged"] = "DistributionTierChanged"
    data: DistributionTierChangedData


class RecordingData(WireModel):
    recording_id: UUID


class RecordingStarted(Event):
    type: Literal["RecordingStarted"] = "RecordingStarted"
    data: RecordingData


class RecordingSegmentStoredData(WireModel):
    recording_id: UUID
    index: int = Field(ge=0)
    uri: str
    start_seconds: float = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    bytes: int = Field(ge=0)


class RecordingSegmentStored(Event):
    type: Literal["RecordingSegmentStored"] = "RecordingSegmentStored"
    data: RecordingSegmentStoredData


class RecordingFinishedData(WireModel):
    recording_id: UUID
    uri: str
    """The podcast file (``format``)."""
    duration_seconds: float = Field(ge=0)
    format: Literal["m4a", "mp3"]
    bytes: int | None = Field(default=None, ge=0)
    web_uri: str | None = None
    """The web players' file: Ogg Opus, the room's own packets (no re-encode)."""
    web_bytes: int | None = Field(default=None, ge=0)
    missing_seconds: float = Field(default=0.0, ge=0)
    """Room time no chunk holds (a recorder crash, recording turned off): silence in the files."""


class RecordingFinished(Event):
    type: Literal["RecordingFinished"] = "RecordingFinished"
    data: RecordingFinishedData


class RecordingPublished(Event):
    type: Literal["RecordingPublished"] = "RecordingPublished"
    data: RecordingData


class RecordingUnpublished(Event):
    type: Literal["RecordingUnpublished"] = "RecordingUnpublished"
    data: RecordingData


class RecordingDeleted(Event):
    type: Literal["RecordingDeleted"] = "RecordingDeleted"
    data: RecordingData


class RecordingSettingChangedData(WireModel):
    enabled: bool


class RecordingSettingChanged(Event):
    """The host turned recording of the room on or off."""

    type: Literal["RecordingSettingChanged"] = "RecordingSettingChanged"
    data: RecordingSettingChangedData


class ClipCreatedData(WireModel):
    recording_id: UUID
    clip_id: UUID
    title: str | None = Field(default=None, max_length=140)
    start_seconds: float = Field(ge=0)
    end_seconds: float = Field(gt=0)
    uri: str
    bytes: int = Field(ge=0)


class ClipCreated(Event):
    """A range of the recording stored as its own file (the gateway cut it before asking)."""

    type: Literal["ClipCreated"] = "ClipCreated"
    data: ClipCreatedData


# --- transcripts and moderation ---------------------------------------------


class CaptionsHealthChangedData(WireModel):
    status: Literal["live", "behind", "failed", "unavailable"]
    reason: str = Field(default="", max_length=500)
    worker_id: str | None = Field(default=None, max_length=128)
    lag_seconds: float | None = Field(default=None, ge=0)


class CaptionsHealthChanged(Event):
    """A room's live captions changed health: a worker fell behind, failed, caught up, or
    the mixing node heard from no worker (``unavailable``). On ``stoa.media-events``."""

    type: Literal["CaptionsHealthChanged"] = "CaptionsHealthChanged"
    data: CaptionsHealthChangedData


class TranscriptSegmentData(WireModel):
    segment_id: UUID
    text: str
    start_seconds: float = Field(ge=0)
    end_seconds: float = Field(ge=0)
    speaker_id: UserId | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)


class TranscriptSegment(Event):
    type: Literal["TranscriptSegment"] = "TranscriptSegment"
    data: TranscriptSegmentData


class SegmentFlaggedData(WireModel):
    flag_id: UUID
    segment_id: UUID
    category: str
    score: float = Field(ge=0, le=1)
    start_seconds: float = Field(ge=0)
    end_seconds: float = Field(ge=0)
    speaker_id: UserId | None = None
    """Who said it, as attributed from the speaker turns (None: nobody was talking)."""
    text: str = Field(default="", max_length=2000)
    """The flagged words, for the moderator who reads the queue."""


class SegmentFlagged(Event):
    type: Literal["SegmentFlagged"] = "SegmentFlagged"
    data: SegmentFlaggedData


class FlagResolvedData(WireModel):
    flag_id: UUID
    action: Literal["dismiss", "mute", "remove", "end_room"]


class FlagResolved(Event):
    type: Literal["FlagResolved"] = "FlagResolved"
    data: FlagResolvedData


# --- social graph (stoa.social, key = user id; room_id names the subject) ----


class UserFollowed(Event):
    type: Literal["UserFollowed"] = "UserFollowed"
    data: UserData


class UserUnfollowed(Event):
    type: Literal["UserUnfollowed"] = "UserUnfollowed"
    data: UserData


class TopicData(WireModel):
    topic: Topic


class TopicFollowed(Event):
    type: Literal["TopicFollowed"] = "TopicFollowed"
    data: TopicData


class TopicUnfollowed(Event):
    type: Literal["TopicUnfollowed"] = "TopicUnfollowed"
    data: TopicData


class ReminderSet(Event):
    type: Literal["ReminderSet"] = "ReminderSet"
    data: NoData = NoData()


class NotificationRequestedData(WireModel):
    notification_id: UUID
    recipient_id: UserId
    kind: str
    text: str


class NotificationRequested(Event):
    type: Literal["NotificationRequested"] = "NotificationRequested"
    data: NotificationRequestedData


EVENT_CLASSES: tuple[type[Event], ...] = (
    RoomCreated,
    RoomScheduled,
    RoomStarted,
    RoomEnded,
    RoomPinned,
    RoomUnpinned,
    CohostAdded,
    CohostRemoved,
    SpeakerPromoted,
    SpeakerDemoted,
    HandRaised,
    HandLowered,
    SpeakerMuted,
    SpeakerUnmuted,
    ParticipantRemoved,
    ListenerJoined,
    ListenerLeft,
    ReportFiled,
    ChapterMarked,
    SpeakerActivity,
    CaptionsHealthChanged,
    MixingModeChanged,
    DistributionTierChanged,
    RecordingStarted,
    RecordingSegmentStored,
    RecordingFinished,
    RecordingPublished,
    RecordingUnpublished,
    RecordingDeleted,
    RecordingSettingChanged,
    ClipCreated,
    TranscriptSegment,
    SegmentFlagged,
    FlagResolved,
    UserFollowed,
    UserUnfollowed,
    TopicFollowed,
    TopicUnfollowed,
    ReminderSet,
    NotificationRequested,
)

"""Every event type; adding one here is all the codec and the schema export need."""
EVENT_TYPES: dict[str, type[Event]] = by_type(EVENT_CLASSES)
ANY_EVENT: TypeAdapter[Any] = tagged_union(EVENT_CLASSES)
