"""Commands (what a user asks for) and their results (what the room decided).

The gateway appends commands to ``stoa.commands`` keyed by room id; the room's
single writer answers on ``stoa.command-results`` keyed by command id.
"""

from typing import Any, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from schemas.base import RoomId, UserId, UtcDatetime, WireModel, by_type, tagged_union
from schemas.events import Topic
from schemas.room import RoomState


class Command(WireModel):
    command_id: UUID
    type: str
    room_id: RoomId
    actor_id: UserId
    issued_at: UtcDatetime


class TargetedCommand(Command):
    """A command acting on another participant (promote, mute, remove, ...)."""

    target_id: UserId


class CreateRoom(Command):
    type: Literal["CreateRoom"] = "CreateRoom"
    title: str = Field(min_length=1, max_length=140)
    topics: tuple[Topic, ...] = Field(default=(), max_length=5)
    scheduled_for: UtcDatetime | None = None
    start_now: bool = False
    recording: bool = True


class StartRoom(Command):
    type: Literal["StartRoom"] = "StartRoom"


class EndRoom(Command):
    type: Literal["EndRoom"] = "EndRoom"


class PinRoom(Command):
    type: Literal["PinRoom"] = "PinRoom"


class UnpinRoom(Command):
    type: Literal["UnpinRoom"] = "UnpinRoom"


class AddCohost(TargetedCommand):
    type: Literal["AddCohost"] = "AddCohost"


class RemoveCohost(TargetedCommand):
    type: Literal["RemoveCohost"] = "RemoveCohost"


class PromoteSpeaker(TargetedCommand):
    type: Literal["PromoteSpeaker"] = "PromoteSpeaker"


class DemoteSpeaker(TargetedCommand):
    type: Literal["DemoteSpeaker"] = "DemoteSpeaker"


class RaiseHand(Command):
    type: Literal["RaiseHand"] = "RaiseHand"


class LowerHand(Command):
    type: Literal["LowerHand"] = "LowerHand"


class MuteSpeaker(TargetedCommand):
    type: Literal["MuteSpeaker"] = "MuteSpeaker"


class UnmuteSpeaker(TargetedCommand):
    type: Literal["UnmuteSpeaker"] = "UnmuteSpeaker"


class RemoveParticipant(TargetedCommand):
    type: Literal["RemoveParticipant"] = "RemoveParticipant"


class FileReport(Command):
    type: Literal["FileReport"] = "FileReport"
    target_user_id: UserId | None = None
    reason: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class MarkChapter(Command):
    type: Literal["MarkChapter"] = "MarkChapter"
    title: str = Field(min_length=1, max_length=140)


class SetRecording(Command):
    type: Literal["SetRecording"] = "SetRecording"
    enabled: bool


class PublishRecording(Command):
    type: Literal["PublishRecording"] = "PublishRecording"


class UnpublishRecording(Command):
    type: Literal["UnpublishRecording"] = "UnpublishRecording"


class DeleteRecording(Command):
    type: Literal["DeleteRecording"] = "DeleteRecording"


class CreateClip(Command):
    """Record a clip the gateway has already cut and stored (``uri``)."""

    type: Literal["CreateClip"] = "CreateClip"
    clip_id: UUID
    title: str | None = Field(default=None, max_length=140)
    start_seconds: float = Field(ge=0)
    end_seconds: float = Field(gt=0)
    uri: str
    bytes: int = Field(ge=0)


RECORDING_COMMANDS = (PublishRecording, UnpublishRecording, DeleteRecording, CreateClip)
"""Commands about the room's recording: they come after the room ended."""

COMMAND_CLASSES: tuple[type[Command], ...] = (
    CreateRoom,
    StartRoom,
    EndRoom,
    PinRoom,
    UnpinRoom,
    AddCohost,
    RemoveCohost,
    PromoteSpeaker,
    DemoteSpeaker,
    RaiseHand,
    LowerHand,
    MuteSpeaker,
    UnmuteSpeaker,
    RemoveParticipant,
    FileReport,
    MarkChapter,
    SetRecording,
    PublishRecording,
    UnpublishRecording,
    DeleteRecording,
    CreateClip,
)
"""Every command; adding one here is all the codec and the schema export need."""
COMMAND_TYPES: dict[str, type[Command]] = by_type(COMMAND_CLASSES)
ANY_COMMAND: TypeAdapter[Any] = tagged_union(COMMAND_CLASSES)


class Rejection(WireModel):
    """Why a room refused a command; ``status`` is the HTTP status the gateway answers."""

    status: Literal[403, 404, 409, 422]
    code: str
    detail: str


class CommandResult(WireModel):
    command_id: UUID
    room_id: RoomId
    accepted: bool
    version: int = Field(ge=0)
    event_types: tuple[str, ...] = ()
    rejection: Rejection | None = None
    state: RoomState | None = None
    decided_by: str | None = Field(default=None, description="worker that owned the partition")
