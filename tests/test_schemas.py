"""The wire contract: event types, upcasting, decoding errors and the exported JSON Schemas."""

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from jsonschema import Draft202012Validator

from projections.room import RoomState, decide, fold
from schemas import commands as c
from schemas import events as e
from schemas.codec import UndecodableMessage, decode_event
from schemas.export import DEFAULT_DIR, export, load

ROOM_ID = "room-s"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

EXPECTED_EVENT_TYPES = (
    "RoomCreated",
    "RoomScheduled",
    "RoomStarted",
    "RoomEnded",
    "CohostAdded",
    "CohostRemoved",
    "SpeakerPromoted",
    "SpeakerDemoted",
    "HandRaised",
    "HandLowered",
    "SpeakerMuted",
    "SpeakerUnmuted",
    "ParticipantRemoved",
    "ListenerJoined",
    "ListenerLeft",
    "ReportFiled",
    "ChapterMarked",
    "SpeakerActivity",
    "MixingModeChanged",
    "DistributionTierChanged",
    "RecordingStarted",
    "RecordingSegmentStored",
    "RecordingFinished",
    "RecordingPublished",
    "RecordingDeleted",
    "TranscriptSegment",
    "SegmentFlagged",
    "FlagResolved",
    "UserFollowed",
    "UserUnfollowed",
    "TopicFollowed",
    "TopicUnfollowed",
    "ReminderSet",
    "NotificationRequested",
)


@cache
def schemas() -> dict[str, dict[str, Any]]:
    return load()


def validator(name: str) -> Draft202012Validator:
    schema = schemas()[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_valid(name: str, document: str | bytes) -> None:
    errors = [error.message for error in validator(name).iter_errors(json.loads(document))]
    assert errors == [], f"{name}: {errors}"


def v1_room_created(topic: object = "Tech Talk") -> dict[str, Any]:
    return {
        "event_id": str(uuid4()),
        "type": "RoomCreated",
        "version": 1,
        "room_id": ROOM_ID,
        "actor_id": "h",
        "seq": 1,
        "occurred_at": "2024-05-01T12:00:00Z",
        "data": {"host_id": "h", "title": "Old room", "topic": topic},
    }


def hand_raised() -> dict[str, Any]:
    return {
        "event_id": str(uuid4()),
        "type": "HandRaised",
        "room_id": ROOM_ID,
        "actor_id": "a",
        "seq": 7,
        "occurred_at": "2024-05-01T12:00:00+02:00",
        "data": {"user_id": "a"},
    }


# --- event types -----------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED_EVENT_TYPES)
def test_event_type_is_registered(name: str) -> None:
    cls = e.EVENT_TYPES[name]
    assert cls.model_fields["type"].default == name
    assert issubclass(cls, e.Event)
    assert f"event.{name}" in schemas()


def test_event_types_have_distinct_names() -> None:
    assert len(e.EVENT_TYPES) == len(e.EVENT_CLASSES)


# --- upcasting -------------------------------------------------------------------------


def test_v1_room_created_decodes_as_v2_with_topics() -> None:
    raw = v1_room_created("Tech Talk")
    event = decode_event(raw)
    assert isinstance(event, e.RoomCreated)
    assert event.version == 2 == e.RoomCreated.CURRENT_VERSION
    assert event.data.topics == ("tech-talk",)
    assert (event.data.host_id, event.data.title) == ("h", "Old room")
    assert str(event.event_id) == raw["event_id"]
    assert event.occurred_at == T0
    assert decode_event(json.dumps(raw).encode()) == event


def test_upcast_v1_room_created_validates_against_exported_schema() -> None:
    raw = v1_room_created("Tech Talk")
    document = decode_event(raw).model_dump_json()
    assert_valid("event.RoomCreated", document)
    assert json.loads(document)["data"] == {
        "host_id": "h",
        "title": "Old room",
        "topics": ["tech-talk"],
        "recording": True,
    }
    # The schema is strict: the v1 shape itself is not a valid v2 RoomCreated.
    assert list(validator("event.RoomCreated").iter_errors(raw))


@pytest.mark.parametrize(
    ("topic", "topics"),
    [
        ("  Rock & Roll!! ", ("rock-roll",)),
        ("!!!", ("general",)),
        ("", ()),
        (None, ()),
        ("x" * 50, ("x" * 40,)),
    ],
)
def test_v1_topic_becomes_a_valid_slug(topic: str | None, topics: tuple[str, ...]) -> None:
    event = decode_event(v1_room_created(topic))
    assert isinstance(event, e.RoomCreated)
    assert event.data.topics == topics
    assert_valid("event.RoomCreated", event.model_dump_json())


def test_current_version_is_decoded_unchanged() -> None:
    raw = {
        **v1_room_created(),
        "version": 2,
        "data": {"host_id": "h", "title": "T", "topics": ["a"], "recording": False},
    }
    event = decode_event(raw)
    assert isinstance(event, e.RoomCreated)
    assert event.data.topics == ("a",)
    assert json.loads(event.model_dump_json())["data"] == raw["data"]


def test_v1_topic_with_accents_is_still_decodable() -> None:
    event = decode_event(v1_room_created("Café Crème"))
    assert isinstance(event, e.RoomCreated)
    assert len(event.data.topics) == 1


# --- undecodable messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            json.dumps({**hand_raised(), "type": "RoomTeleported"}),
            "unknown event type 'RoomTeleported'",
        ),
        (json.dumps({"room_id": ROOM_ID}), "unknown event type None"),
        (b"\x00\xffnot json at all", "not JSON"),
        (b'{"type": "HandRaised",', "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"HandRaised"', "expected a JSON object, got str"),
    ],
    ids=["unknown-type", "no-type", "garbage-bytes", "truncated-json", "json-array", "json-string"],
)
def test_undecodable_message_names_the_problem(raw: bytes | str, problem: str) -> None:
    with pytest.raises(UndecodableMessage) as caught:
        decode_event(raw)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("user_id", "not a user id!", "data.user_id"),
        ("seq", 0, "seq"),
        ("occurred_at", "2024-05-01T12:00:00", "occurred_at"),
        ("event_id", "not-a-uuid", "event_id"),
        ("surprise", 1, "surprise"),
    ],
)
def test_known_type_with_bad_field_is_undecodable(field: str, value: object, where: str) -> None:
    raw = hand_raised()
    if field == "user_id":
        raw["data"] = {"user_id": value}
    else:
        raw[field] = value
    with pytest.raises(UndecodableMessage) as caught:
        decode_event(json.dumps(raw))
    message = str(caught.value)
    assert message.startswith("invalid HandRaised")
    assert where in message


def test_known_type_without_data_is_undecodable() -> None:
    raw = hand_raised()
    del raw["data"]
    with pytest.raises(UndecodableMessage, match=r"invalid HandRaised: .*data: Field required"):
        decode_event(raw)


def test_event_whose_type_is_not_a_string_is_undecodable() -> None:
    with pytest.raises(UndecodableMessage):
        decode_event(json.dumps({**hand_raised(), "type": ["HandRaised"]}))


def test_v1_room_created_with_non_text_topic_is_undecodable() -> None:
    with pytest.raises(UndecodableMessage):
        decode_event(json.dumps(v1_room_created(topic=5)))


# --- exported JSON Schemas -------------------------------------------------------------


def test_committed_schemas_match_a_fresh_export(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert written, "export wrote nothing"
    fresh = {path.name: path.read_text() for path in tmp_path.glob("*.json")}
    committed = {path.name: path.read_text() for path in DEFAULT_DIR.glob("*.json")}
    assert sorted(committed) == sorted(fresh), "run `stoa schemas` and commit schemas/json"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert stale == [], f"stale schemas (run `stoa schemas`): {stale}"


def test_every_exported_schema_is_a_valid_draft_2020_12_schema() -> None:
    for name, schema in schemas().items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        Draft202012Validator.check_schema(schema)


# --- events built by decide match their schemas ------------------------------------------

SCRIPT: tuple[tuple[type[c.Command], str, dict[str, Any]], ...] = (
    (
        c.CreateRoom,
        "h",
        {"title": "Schemas", "topics": ("tech",), "scheduled_for": T0 + timedelta(days=1)},
    ),
    (c.StartRoom, "h", {}),
    (c.PinRoom, "h", {}),
    (c.UnpinRoom, "h", {}),
    (c.AddCohost, "h", {"target_id": "a"}),
    (c.RemoveCohost, "h", {"target_id": "a"}),
    (c.RaiseHand, "b", {}),
    (c.LowerHand, "b", {}),
    (c.PromoteSpeaker, "h", {"target_id": "b"}),
    (c.MuteSpeaker, "h", {"target_id": "b"}),
    (c.UnmuteSpeaker, "h", {"target_id": "b"}),
    (c.DemoteSpeaker, "h", {"target_id": "b"}),
    (c.RemoveParticipant, "h", {"target_id": "c"}),
    (c.FileReport, "d", {"target_user_id": "c", "reason": "spam", "note": "loud"}),
    (c.MarkChapter, "h", {"title": "Wrap-up"}),
    (c.SetRecording, "h", {"enabled": False}),
    (c.EndRoom, "h", {}),
    (c.PublishRecording, "h", {}),
    (c.UnpublishRecording, "h", {}),
    (
        c.CreateClip,
        "h",
        {"clip_id": UUID(int=7), "start_seconds": 2, "end_seconds": 5, "uri": "k", "bytes": 10},
    ),
    (c.DeleteRecording, "h", {}),
)


@cache
def accepted_commands() -> dict[str, tuple[c.Command, tuple[e.Event, ...]]]:
    """Run SCRIPT through decide; every command in it must be accepted."""
    state: RoomState | None = None
    accepted: dict[str, tuple[c.Command, tuple[e.Event, ...]]] = {}
    for step, (cls, actor, fields) in enumerate(SCRIPT, start=1):
        command = cls(
            command_id=uuid4(),
            room_id=ROOM_ID,
            actor_id=actor,
            issued_at=T0 + step * timedelta(minutes=1),
            **fields,
        )
        outcome = decide(state, command)
        assert isinstance(outcome, list), f"{cls.__name__} rejected: {outcome}"
        state = fold(outcome, state)
        accepted[command.type] = (command, tuple(outcome))
    return accepted


@pytest.mark.parametrize("cls", c.COMMAND_CLASSES, ids=lambda k: k.__name__)
def test_decided_events_validate_against_exported_schema(cls: type[c.Command]) -> None:
    command, events = accepted_commands()[cls.model_fields["type"].default]
    assert_valid(f"command.{command.type}", command.model_dump_json())
    assert events
    for event in events:
        document = event.model_dump_json()
        assert_valid(f"event.{event.type}", document)
        assert decode_event(event.model_dump_json().encode()) == event


def test_script_emits_every_room_state_event() -> None:
    emitted = {ev.type for _, events in accepted_commands().values() for ev in events}
    assert emitted == {
        "RoomCreated",
        "RoomScheduled",
        "RoomStarted",
        "RoomEnded",
        "RoomPinned",
        "RoomUnpinned",
        "CohostAdded",
        "CohostRemoved",
        "SpeakerPromoted",
        "SpeakerDemoted",
        "HandRaised",
        "HandLowered",
        "SpeakerMuted",
        "SpeakerUnmuted",
        "ParticipantRemoved",
        "ReportFiled",
        "ChapterMarked",
        "RecordingSettingChanged",
        "RecordingPublished",
        "RecordingUnpublished",
        "ClipCreated",
        "RecordingDeleted",
    }


def test_schema_rejects_a_decided_event_with_an_unknown_field() -> None:
    _, (event,) = accepted_commands()["PromoteSpeaker"]
    document = json.loads(event.model_dump_json())
    document["data"]["volume"] = 11
    assert list(validator("event.SpeakerPromoted").iter_errors(document))
