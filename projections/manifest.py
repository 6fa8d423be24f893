"""The recording manifest of a room, folded from its events: a pure projection.

Four logs feed it: ``stoa.room-events`` (the room, roles, chapters, publish
and delete, clips), ``stoa.media-events`` (speaker turns, the recorder's
chunks and files), ``stoa.presence`` (who listened when) and
``stoa.transcripts`` (whether there is a transcript, and how far it goes). The agent sees
them interleaved in whatever order the broker delivers; a rebuild reads them
one after the other. So each part of the manifest comes from one log only,
every step is idempotent (room events by ``seq``, the rest by what they name),
and the room's end is applied the same way whether a leave arrives before or
after it: the folded manifest does not depend on how the logs interleave.
"""

from collections.abc import Iterable
from uuid import UUID

from schemas import events as e
from schemas.manifest import (
    MAX_PARTICIPANTS,
    Chunk,
    Clip,
    Participant,
    RecordingManifest,
    Span,
    StoredFile,
    Turn,
)
from schemas.presence import PresenceBatch
from schemas.recording import recording_id_for
from schemas.room import Chapter, Role


def apply(manifest: RecordingManifest | None, event: e.Event) -> RecordingManifest | None:
    """Fold one room or media event (any other event changes nothing)."""
    if isinstance(event, e.RoomCreated):
        if manifest is not None:
            return manifest
        created = RecordingManifest(
            recording_id=recording_id_for(event.room_id),
            room_id=event.room_id,
            host_id=event.data.host_id,
            title=event.data.title,
            topics=event.data.topics,
            recording_enabled=event.data.recording,
            room_version=event.seq or 0,
        )
        return _with_role(created, event.data.host_id, "host")
    if manifest is None:
        return None
    if event.seq is not None:
        if event.seq <= manifest.room_version:
            return manifest  # redelivered
        changed = _room_event(manifest, event)
        return changed.model_copy(update={"room_version": event.seq})
    if isinstance(event, e.ListenerJoined | e.ListenerLeft):
        return _presence(manifest, event)
    if isinstance(event, e.TranscriptSegment):
        return _transcript(manifest, event)
    return _media_event(manifest, event)


def apply_presence(
    manifest: RecordingManifest | None, batch: PresenceBatch
) -> RecordingManifest | None:
    for event in batch.events:
        manifest = apply(manifest, event)
    return manifest


def rebuild(
    room_events: Iterable[e.Event],
    media_events: Iterable[e.Event],
    presence: Iterable[PresenceBatch],
    transcripts: Iterable[e.Event] = (),
) -> RecordingManifest | None:
    """The manifest from the logs, read one after the other (``stoa replay``, tests)."""
    manifest: RecordingManifest | None = None
    for event in room_events:
        manifest = apply(manifest, event)
    for event in media_events:
        manifest = apply(manifest, event)
    for batch in presence:
        manifest = apply_presence(manifest, batch)
    for event in transcripts:
        manifest = apply(manifest, event)
    return manifest


# --- stoa.room-events ------------------------------------------------------------


def _room_event(m: RecordingManifest, ev: e.Event) -> RecordingManifest:
    user: str = getattr(getattr(ev, "data", None), "user_id", "")
    match ev:
        case e.RoomStarted():
            return m.model_copy(update={"room_status": "live", "started_at": ev.occurred_at})
        case e.RoomEnded():
            return m.model_copy(update={"room_status": "ended", "ended_at": ev.occurred_at})
        case e.CohostAdded():
            cohosts = (*[c for c in m.cohost_ids if c != user], user)
            return _with_role(m.model_copy(update={"cohost_ids": cohosts}), user, "cohost")
        case e.CohostRemoved() | e.SpeakerDemoted():
            cohosts = tuple(c for c in m.cohost_ids if c != user)
            return _with_role(m.model_copy(update={"cohost_ids": cohosts}), user, "listener")
        case e.SpeakerPromoted():
            return _with_role(m, user, "speaker")
        case e.ParticipantRemoved():
            cohosts = tuple(c for c in m.cohost_ids if c != user)
            return _with_role(m.model_copy(update={"cohost_ids": cohosts}), user, "removed")
        case e.ChapterMarked():
            chapter = Chapter(
                title=ev.data.title, offset_seconds=ev.data.offset_seconds, marked_at=ev.occurred_at
            )
            return m.model_copy(update={"chapters": (*m.chapters, chapter)})
        case e.RecordingSettingChanged():
            return m.model_copy(update={"recording_enabled": ev.data.enabled})
        case e.RecordingPublished() | e.RecordingUnpublished():
            return m.model_copy(update={"published": isinstance(ev, e.RecordingPublished)})
        case e.RecordingDeleted():
            return m.model_copy(
                update={
                    "deleted": True,
                    "published": False,
                    "chunks": (),
                    "web": None,
                    "podcast": None,
                    "clips": (),
                    **_NO_TRANSCRIPT,
                }
            )
        case e.ClipCreated():
            if m.deleted or any(c.clip_id == ev.data.clip_id for c in m.clips):
                return m
            clip = Clip(
                clip_id=ev.data.clip_id,
                title=ev.data.title,
                start_seconds=ev.data.start_seconds,
                end_seconds=ev.data.end_seconds,
                uri=ev.data.uri,
                bytes=ev.data.bytes,
                created_at=ev.occurred_at,
                created_by=ev.actor_id,
            )
            return m.model_copy(update={"clips": (*m.clips, clip)})
    return m


def _with_role(m: RecordingManifest, user: str, role: Role) -> RecordingManifest:
    people = list(m.participants)
    for i, person in enumerate(people):
        if person.user_id == user:
            people[i] = person.model_copy(update={"role": role})
            return m.model_copy(update={"participants": tuple(people)})
    if len(people) >= MAX_PARTICIPANTS:
        return m
    people.append(Participant(user_id=user, role=role))
    return m.model_copy(update={"participants": tuple(sorted(people, key=lambda p: p.user_id))})


# --- stoa.presence ------------------------------------------------------------------


def _presence(m: RecordingManifest, ev: e.ListenerJoined | e.ListenerLeft) -> RecordingManifest:
    """Stays as the edges reported them; the room's end is applied when they are read
    (``RecordingManifest.people``), so the order of the end and a leave does not matter."""
    user, at, joined = ev.data.user_id, ev.occurred_at, isinstance(ev, e.ListenerJoined)
    people = list(m.participants)
    index = next((i for i, p in enumerate(people) if p.user_id == user), None)
    if index is None:
        if not joined:
            return m
        if len(people) >= MAX_PARTICIPANTS:  # counted, not named
            return m.model_copy(update={"unnamed_listeners": m.unnamed_listeners + 1})
        people.append(Participant(user_id=user, role="listener"))
        people.sort(key=lambda p: p.user_id)
        index = next(i for i, p in enumerate(people) if p.user_id == user)
    person = people[index]
    spans = list(person.spans)
    is_open = bool(spans) and spans[-1].left_at is None
    if joined:
        if is_open or any(s.joined_at == at for s in spans):
            return m  # already in, or a redelivered join
        spans.append(Span(joined_at=at))
    else:
        if not is_open:
            return m
        spans[-1] = spans[-1].model_copy(update={"left_at": at})
    people[index] = person.model_copy(update={"spans": tuple(spans)})
    return m.model_copy(update={"participants": tuple(people)})


# --- stoa.media-events ------------------------------------------------------------------


def _media_event(m: RecordingManifest, ev: e.Event) -> RecordingManifest:
    match ev:
        case e.SpeakerActivity():
            return _turn(m, ev.data.user_id, ev.data.talking, ev.data.offset_seconds)
        case e.RecordingStarted():
            return m if m.deleted else m.model_copy(update={"recording_started": True})
        case e.RecordingSegmentStored():
            if m.deleted:
                return m
            chunk = Chunk(
                index=ev.data.index,
                uri=ev.data.uri,
                start_seconds=ev.data.start_seconds,
                duration_seconds=ev.data.duration_seconds,
                bytes=ev.data.bytes,
            )
            others = [c for c in m.chunks if c.index != chunk.index]
            chunks = tuple(sorted([*others, chunk], key=lambda c: c.index))
            return m.model_copy(update={"chunks": chunks, "recording_started": True})
        case e.RecordingFinished():
            if m.deleted:
                return m
            d = ev.data
            web = StoredFile(uri=d.web_uri, bytes=d.web_bytes, format="opus") if d.web_uri else None
            podcast = StoredFile(uri=d.uri, bytes=d.bytes, format=d.format)
            return m.model_copy(
                update={
                    "web": web,
                    "podcast": podcast,
                    "duration_seconds": d.duration_seconds,
                    "missing_seconds": d.missing_seconds,
                }
            )
    return m


def _turn(m: RecordingManifest, user: str, talking: bool, at: float) -> RecordingManifest:
    turns = list(m.turns)
    open_at = next((i for i in range(len(turns) - 1, -1, -1)
                    if turns[i].user_id == user and turns[i].end is None), None)  # fmt: skip
    if talking:
        if open_at is not None or any(t.user_id == user and t.start == at for t in turns):
            return m
        turns.append(Turn(user_id=user, start=at))
    else:
        if open_at is None:
            return m
        turns[open_at] = turns[open_at].model_copy(update={"end": max(at, turns[open_at].start)})
    return m.model_copy(update={"turns": tuple(turns)})


# --- stoa.transcripts ---------------------------------------------------------------------

_NO_TRANSCRIPT: dict[str, object] = {
    "transcript_uri": None,
    "captions_uri": None,
    "transcript_segments": 0,
    "transcript_end_seconds": None,
    "transcript_last_segment": None,
}
"""A deleted recording has no transcript either (the archive's copy is no longer served)."""


def transcript_path(recording_id: UUID) -> str:
    """The API path of a recording's transcript; the gateway puts its own origin in front."""
    return f"/v1/recordings/{recording_id}/transcript"


def _transcript(m: RecordingManifest, ev: e.TranscriptSegment) -> RecordingManifest:
    """Count a final segment and note where the transcript ends.

    The speech-to-text worker publishes a room's final segments in time order on the
    room's partition, so a segment that does not come after the last one counted (by
    end, then id) is a redelivery: the count stays exact without keeping every id.
    """
    if m.deleted:
        return m
    mark = (ev.data.end_seconds, str(ev.data.segment_id))
    last = m.transcript_end_seconds
    if last is not None and mark <= (last, str(m.transcript_last_segment)):
        return m
    path = transcript_path(m.recording_id)
    return m.model_copy(
        update={
            "transcript_uri": path,
            "captions_uri": f"{path}?format=vtt",
            "transcript_segments": m.transcript_segments + 1,
            "transcript_end_seconds": ev.data.end_seconds,
            "transcript_last_segment": ev.data.segment_id,
        }
    )
