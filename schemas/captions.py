"""Live captions as they travel: ASR worker → ``stoa.captions`` → mixing node → listeners.

The same JSON is the record on ``stoa.captions`` and the text message a
listener's WebSocket receives (CONTRACT.md), so the mixing node and relays pass
it on without reshaping it. Captions are live media, not facts: the facts are
the ``TranscriptSegment`` events on ``stoa.transcripts``.

Times are seconds from the room's start, the clock of chapters, speaker turns
and recordings (and of the listen protocol's seq: ``seq * 0.020``).
"""

from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.base import UserId, WireModel, tagged_union

CaptionsHealth = Literal["live", "behind", "failed", "unavailable"]
"""``live``: captions keep up with the room. ``behind``: the worker is late and is
skipping audio to catch up. ``failed``: the engine failed on this room and is
restarting. ``unavailable``: no worker has said anything about this room lately
(the mixing node's verdict: every worker is gone, or none was ever running)."""


class Caption(WireModel):
    """Words of the room: ``final`` ones never change; a partial is replaced by the next."""

    type: Literal["caption"] = "caption"
    text: str = Field(max_length=5000)
    final: bool
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker_id: UserId | None = None
    segment_id: UUID | None = None
    """The ``TranscriptSegment`` a final is (None for a partial)."""


class CaptionsStatus(WireModel):
    """How the room's captions are doing; workers repeat it each second as a heartbeat."""

    type: Literal["captions"] = "captions"
    status: CaptionsHealth
    reason: str = Field(default="", max_length=500)
    worker_id: str | None = Field(default=None, max_length=128)
    lag_seconds: float | None = Field(default=None, ge=0)
    """How far behind the room's audio the worker's transcription is."""


CaptionMessage = Caption | CaptionsStatus
CAPTION_MESSAGES: tuple[type[WireModel], ...] = (Caption, CaptionsStatus)
caption_message = tagged_union(CAPTION_MESSAGES)
"""Validates a record of ``stoa.captions`` into the class its ``type`` names."""


def listener_text(message: CaptionMessage) -> str:
    """The text message listeners get: without what only the log needs (who, how late)."""
    if isinstance(message, CaptionsStatus):
        return message.model_dump_json(include={"type", "status", "reason"})
    return message.model_dump_json(exclude_none=True)
