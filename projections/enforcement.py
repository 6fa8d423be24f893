"""What a room event means for the audio: the media plane's half of moderation.

``media_action`` is pure: the media plane (``media.enforcement``) follows
``stoa.room-events`` and carries out whatever this returns, on the sessions
of the process it runs in. Events that change nothing on the audio path map
to ``None``.
"""

from dataclasses import dataclass
from datetime import datetime

from schemas import events as e


@dataclass(frozen=True)
class SetMuted:
    """Take the speaker out of the mix (or put them back) from the next packet on."""

    user_id: str
    muted: bool


@dataclass(frozen=True)
class LeaveStage:
    """Close the user's publishing session; they may go on listening."""

    user_id: str


@dataclass(frozen=True)
class Expel:
    """Close every session of the user in the room: publishing and listening."""

    user_id: str


@dataclass(frozen=True)
class CloseRoom:
    """Close every session of the room and stop its mix."""

    ended_at: datetime


MediaAction = SetMuted | LeaveStage | Expel | CloseRoom


def media_action(event: e.Event) -> MediaAction | None:
    match event:
        case e.SpeakerMuted() | e.SpeakerUnmuted():
            return SetMuted(event.data.user_id, muted=isinstance(event, e.SpeakerMuted))
        case e.SpeakerDemoted() | e.CohostRemoved():
            return LeaveStage(event.data.user_id)
        case e.ParticipantRemoved():
            return Expel(event.data.user_id)
        case e.RoomEnded():
            return CloseRoom(event.occurred_at)
    return None


def concerns(action: MediaAction, user_id: str) -> bool:
    """Whether the action targets ``user_id`` (the end of a room concerns everyone)."""
    return isinstance(action, CloseRoom) or action.user_id == user_id
