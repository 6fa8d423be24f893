"""The topic registry: every topic Stoa uses, its key and its retention."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    compacted: bool = False
    doc: str = ""
    retention_ms: int | None = None
    """Kept only this long (a stream for live consumers, not a record of facts)."""
    archived: bool = True
    """Whether the archiver copies it to ClickHouse (facts are; live media is not)."""


COMMANDS = TopicSpec("stoa.commands", "room_id", doc="commands from the gateway")
COMMAND_RESULTS = TopicSpec("stoa.command-results", "command_id", doc="accept/reject per command")
ROOM_EVENTS = TopicSpec("stoa.room-events", "room_id", doc="room facts, seq +1 per room")
PRESENCE = TopicSpec("stoa.presence", "room_id", doc="batched listener joins and leaves")
PRESENCE_COUNTS = TopicSpec(
    "stoa.presence-counts", "room_id", compacted=True, doc="listener count and peak per room"
)
MEDIA_EVENTS = TopicSpec("stoa.media-events", "room_id", doc="speaker activity, tiers, recordings")
TRANSCRIPTS = TopicSpec("stoa.transcripts", "room_id", doc="final transcript segments")
MODERATION = TopicSpec("stoa.moderation", "room_id", doc="flags and their resolution")
SOCIAL = TopicSpec("stoa.social", "user_id", doc="follows and reminders")
NOTIFICATIONS = TopicSpec("stoa.notifications", "user_id", doc="notifications to deliver")
ROOM_STATE = TopicSpec("stoa.room-state", "room_id", compacted=True, doc="room projection")
DEAD_LETTER = TopicSpec("stoa.dead-letter", "source key", doc="undecodable messages")
RECORDING_MANIFESTS = TopicSpec(
    "stoa.recording-manifests", "room_id", compacted=True, doc="recording manifest per room"
)
MODERATION_QUEUE = TopicSpec(
    "stoa.moderation-queue", "room_id", compacted=True, doc="open flags and reports per room"
)
ROOM_AUDIO = TopicSpec(
    "stoa.room-audio",
    "room_id",
    doc="each live room's mix (Opus records) and who is talking, for speech-to-text workers",
    retention_ms=10 * 60 * 1000,
    archived=False,
)
CAPTIONS = TopicSpec(
    "stoa.captions",
    "room_id",
    doc="live captions (partial and final) and captions health, for listeners",
    retention_ms=10 * 60 * 1000,
    archived=False,
)
RELAY_LOAD = TopicSpec(
    "stoa.relay-load", "relay_id", compacted=True, doc="each relay's address and load"
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    COMMANDS,
    COMMAND_RESULTS,
    ROOM_EVENTS,
    PRESENCE,
    PRESENCE_COUNTS,
    MEDIA_EVENTS,
    TRANSCRIPTS,
    MODERATION,
    SOCIAL,
    NOTIFICATIONS,
    ROOM_STATE,
    DEAD_LETTER,
    RELAY_LOAD,
    RECORDING_MANIFESTS,
    MODERATION_QUEUE,
    ROOM_AUDIO,
    CAPTIONS,
)
