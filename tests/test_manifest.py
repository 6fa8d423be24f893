"""The recording manifest folded from the room, media, presence and transcript logs (pure).

The agent meets the four logs interleaved however the broker delivers them; a
rebuild reads them one after another. Both must give the same manifest, and a
redelivered event must change nothing.
"""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.manifest import apply, apply_presence, rebuild
from projections.room import decide, fold
from schemas import commands as c
from schemas import events as e
from schemas.manifest import RecordingManifest
from schemas.presence import PresenceBatch, presence_event
from schemas.recording import recording_id_for
from schemas.room import RoomState

ROOM = "room-m"
T0 = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
RID = recording_id_for(ROOM)


def room_log() -> list[e.Event]:
    """A room: created and started, a guest promoted, a chapter, a co-host, the end, then
    the host publishes and clips."""
    state: RoomState | None = None
    log: list[e.Event] = []
    script: list[tuple[type[c.Command], str, dict[str, object]]] = [
        (c.CreateRoom, "host", {"title": "Evening", "topics": ("news",), "start_now": True}),
        (c.RaiseHand, "guest", {}),
        (c.PromoteSpeaker, "host", {"target_id": "guest"}),
        (c.MarkChapter, "host", {"title": "Questions"}),
        (c.AddCohost, "host", {"target_id": "co"}),
        (c.RemoveParticipant, "host", {"target_id": "troll"}),
        (c.EndRoom, "host", {}),
        (c.PublishRecording, "host", {}),
        (c.CreateClip, "host", {"clip_id": uuid.UUID(int=1), "start_seconds": 10,
                                "end_seconds": 20, "uri": "k/clip", "bytes": 99}),
    ]  # fmt: skip
    for minute, (cls, actor, fields) in enumerate(script):
        command = cls(
            command_id=uuid.uuid4(),
            room_id=ROOM,
            actor_id=actor,
            issued_at=T0 + timedelta(minutes=minute),
            **fields,
        )
        events = decide(state, command)
        assert isinstance(events, list), events
        state = fold(events, state)
        log.extend(events)
    return log


def media_log() -> list[e.Event]:
    def event(cls: type[e.Event], data: dict[str, object]) -> e.Event:
        return cls.model_validate(
            {
                "event_id": uuid.uuid4(),
                "room_id": ROOM,
                "actor_id": "stoa-recorder",
                "occurred_at": T0,
                "data": data,
            }
        )

    def talk(user: str, talking: bool, at: float) -> e.Event:
        data = {"user_id": user, "talking": talking, "offset_seconds": at}
        return event(e.SpeakerActivity, data)

    def chunk(index: int) -> e.Event:
        return event(
            e.RecordingSegmentStored,
            {"recording_id": RID, "index": index, "uri": f"k/{index}",
             "start_seconds": 5.0 * index, "duration_seconds": 5.0, "bytes": 1000},
        )  # fmt: skip

    return [
        event(e.RecordingStarted, {"recording_id": RID}),
        talk("host", True, 1.0),
        chunk(0),
        talk("host", False, 4.0),
        talk("guest", True, 130.0),
        chunk(1),
        talk("guest", False, 140.5),
        event(
            e.RecordingFinished,
            {
                "recording_id": RID,
                "uri": "k/audio.m4a",
                "duration_seconds": 360.0,
                "format": "m4a",
                "bytes": 5000,
                "web_uri": "k/audio.opus",
                "web_bytes": 4000,
                "missing_seconds": 2.0,
            },
        ),
    ]


def presence_log() -> list[PresenceBatch]:
    def batch(seq: int, *events: e.ListenerJoined | e.ListenerLeft) -> PresenceBatch:
        return PresenceBatch(
            batch_id=uuid.uuid4(), edge_id="edge", batch_seq=seq, room_id=ROOM, events=events
        )

    at = T0 + timedelta(seconds=30)
    return [
        batch(1, presence_event(ROOM, "amy", True, at), presence_event(ROOM, "guest", True, at)),
        batch(2, presence_event(ROOM, "amy", False, at + timedelta(minutes=2))),
        batch(3, presence_event(ROOM, "amy", True, at + timedelta(minutes=3))),
        # the end came at T0 + 6 min: this leave is clamped to it, this join never happened
        batch(4, presence_event(ROOM, "amy", False, at + timedelta(minutes=9))),
        batch(5, presence_event(ROOM, "late", True, at + timedelta(minutes=9))),
    ]


def transcript_log() -> list[e.Event]:
    """What the speech-to-text worker says, in time order (ids fixed, so rebuilds compare)."""

    def segment(n: int, start: float, end: float, text: str) -> e.Event:
        return e.TranscriptSegment(
            event_id=uuid.UUID(int=1000 + n), room_id=ROOM, actor_id="stoa-asr",
            occurred_at=T0 + timedelta(seconds=end),
            data=e.TranscriptSegmentData(segment_id=uuid.UUID(int=n), text=text,
                                         start_seconds=start, end_seconds=end, speaker_id="host"),
        )  # fmt: skip

    return [
        segment(1, 1.0, 2.5, "Good evening."),
        segment(2, 2.5, 4.0, "Welcome to the news."),
        segment(3, 130.0, 140.5, "A question from the floor."),
    ]


def logs() -> tuple[list[e.Event], list[e.Event], list[PresenceBatch], list[e.Event]]:
    return room_log(), media_log(), presence_log(), transcript_log()


def test_the_manifest_holds_the_rooms_people_turns_chapters_files_and_clips() -> None:
    m = rebuild(*logs())
    assert m is not None
    assert (m.recording_id, m.title, m.host_id, m.room_status) == (RID, "Evening", "host", "ended")
    assert m.published and not m.deleted and m.status == "ready"
    assert [ch.title for ch in m.chapters] == ["Questions"]
    assert [(t.user_id, t.start, t.end) for t in m.turns] == [
        ("host", 1.0, 4.0),
        ("guest", 130.0, 140.5),
    ]
    roles = {p.user_id: p.role for p in m.people()}
    assert roles == {"host": "host", "guest": "speaker", "co": "cohost", "troll": "removed",
                     "amy": "listener"}  # fmt: skip
    amy = next(p for p in m.people() if p.user_id == "amy")
    ended = T0 + timedelta(minutes=6)
    assert [(s.joined_at, s.left_at) for s in amy.spans] == [
        (T0 + timedelta(seconds=30), T0 + timedelta(seconds=150)),
        (T0 + timedelta(seconds=210), ended),
    ]
    assert m.listeners_total == 2  # amy and the guest; "late" came after the end
    assert [ch.index for ch in m.chunks] == [0, 1]
    assert m.web is not None and m.web.uri == "k/audio.opus" and m.web.bytes == 4000
    assert m.podcast is not None and m.podcast.format == "m4a"
    assert (m.duration_seconds, m.missing_seconds) == (360.0, 2.0)
    assert [(cl.start_seconds, cl.end_seconds, cl.created_by) for cl in m.clips] == [
        (10, 20, "host")
    ]
    assert m.transcript_uri == f"/v1/recordings/{RID}/transcript"
    assert m.captions_uri == f"/v1/recordings/{RID}/transcript?format=vtt"
    assert (m.transcript_segments, m.transcript_end_seconds) == (3, 140.5)


def test_a_room_nobody_transcribed_has_no_transcript_link() -> None:
    m = rebuild(room_log(), media_log(), presence_log())
    assert m is not None
    assert (m.transcript_uri, m.captions_uri, m.transcript_segments) == (None, None, 0)


def test_a_transcript_segment_before_the_room_exists_changes_nothing() -> None:
    assert apply(None, transcript_log()[0]) is None


def test_deleting_forgets_every_file_and_clip() -> None:
    deleted = e.RecordingDeleted(
        event_id=uuid.uuid4(), room_id=ROOM, actor_id="host", seq=len(room_log()) + 1,
        occurred_at=T0 + timedelta(hours=1), data=e.RecordingData(recording_id=RID),
    )  # fmt: skip
    m = rebuild([*room_log(), deleted], media_log(), presence_log(), transcript_log())
    assert m is not None and m.deleted and m.status == "deleted" and not m.published
    assert (m.chunks, m.web, m.podcast, m.clips) == ((), None, None, ())
    assert (m.transcript_uri, m.captions_uri, m.transcript_segments) == (None, None, 0)


def test_every_event_applied_twice_changes_nothing() -> None:
    once = rebuild(*logs())
    m: RecordingManifest | None = None
    for event in room_log():
        m = apply(apply(m, event), event)
    for event in media_log():
        m = apply(apply(m, event), event)
    for batch in presence_log():
        m = apply_presence(apply_presence(m, batch), batch)
    for event in transcript_log():
        m = apply(apply(m, event), event)
    assert m == once


def test_a_redelivered_run_of_segments_is_counted_once() -> None:
    """After a crash the agent reads again from its last commit: a run it already folded."""
    m = rebuild(*logs())
    again = m
    for event in transcript_log()[1:]:
        again = apply(again, event)
    assert again == m and m is not None and m.transcript_segments == 3


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_interleaving_of_the_four_logs_gives_the_rebuilt_manifest(rnd: object) -> None:
    pending: list[list[e.Event | PresenceBatch]] = [[*log] for log in logs()]
    m: RecordingManifest | None = None
    # RoomCreated first: nothing else can exist before the room does
    m = apply(m, pending[0].pop(0))  # type: ignore[arg-type]
    while any(pending):
        log = rnd.choice([log for log in pending if log])  # type: ignore[attr-defined]
        item = log.pop(0)
        m = apply_presence(m, item) if isinstance(item, PresenceBatch) else apply(m, item)
    assert m == rebuild(*logs())
