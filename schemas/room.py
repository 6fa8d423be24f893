"""A room as the writer stores it, the log's snapshots carry it and the gateway serves it.

The room's wire shape lives here, beside the events that build it, so that a
command result, a ``stoa.room-state`` snapshot and the gateway's read model
are one typed model rather than dicts re-validated at every hop. The rules
that change it live in ``projections.room``.
"""

from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from schemas.base import WireModel

Status = Literal["scheduled", "live", "ended"]
MemberRole = Literal["host", "cohost", "speaker", "listener"]
Role = Literal[MemberRole, "removed"]

STAGE_ROLES: Final[frozenset[Role]] = frozenset({"host", "cohost", "speaker"})
"""Roles that may publish audio: the one definition of "on stage"."""


class Hand(WireModel):
    user_id: str
    raised_at: datetime


class Chapter(WireModel):
    title: str
    offset_seconds: float
    marked_at: datetime


class RoomState(WireModel):
    room_id: str
    host_id: str
    title: str
    topics: tuple[str, ...] = ()
    status: Status = "scheduled"
    scheduled_for: datetime | None = None
    cohost_ids: tuple[str, ...] = ()
    speaker_ids: tuple[str, ...] = ()
    muted_ids: tuple[str, ...] = ()
    hands: tuple[Hand, ...] = ()
    removed_ids: tuple[str, ...] = ()
    pinned: bool = False
    chapters: tuple[Chapter, ...] = ()
    report_count: int = 0
    recording: bool = True
    """The host's setting: the room is recorded (the recorder follows this)."""
    recording_published: bool = False
    recording_deleted: bool = False
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    version: int = Field(default=0, ge=0)

    def role_of(self, user_id: str) -> Role:
        if user_id in self.removed_ids:
            return "removed"
        if user_id == self.host_id:
            return "host"
        if user_id in self.cohost_ids:
            return "cohost"
        if user_id in self.speaker_ids:
            return "speaker"
        return "listener"

    def on_stage(self, user_id: str) -> bool:
        """Host, co-hosts and speakers may publish audio."""
        return self.role_of(user_id) in STAGE_ROLES

    def moderates(self, user_id: str) -> bool:
        return self.role_of(user_id) in ("host", "cohost")

    def hand_raised(self, user_id: str) -> bool:
        return any(h.user_id == user_id for h in self.hands)
