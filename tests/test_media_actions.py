"""Room events to media actions: the pure half of enforcement (``projections.enforcement``)."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from projections.enforcement import (
    CloseRoom,
    Expel,
    LeaveStage,
    MediaAction,
    SetMuted,
    concerns,
    media_action,
)
from schemas import events as e

AT = datetime(2026, 6, 1, 18, 30, tzinfo=UTC)


def event(cls: type[e.Event], **data: object) -> e.Event:
    fields: dict[str, object] = {
        "event_id": uuid4(),
        "room_id": "r",
        "actor_id": "host",
        "seq": 7,
        "occurred_at": AT,
    }
    if data:
        fields["data"] = data
    return cls.model_validate(fields)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (e.SpeakerMuted, SetMuted("lee", muted=True)),
        (e.SpeakerUnmuted, SetMuted("lee", muted=False)),
        (e.SpeakerDemoted, LeaveStage("lee")),
        (e.CohostRemoved, LeaveStage("lee")),
        (e.ParticipantRemoved, Expel("lee")),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_events_about_a_user_act_on_that_user(cls: type[e.Event], expected: MediaAction) -> None:
    assert media_action(event(cls, user_id="lee")) == expected


def test_the_end_of_a_room_closes_it_as_of_the_end() -> None:
    assert media_action(event(e.RoomEnded, reason="host")) == CloseRoom(AT)


@pytest.mark.parametrize(
    "cls",
    [
        e.SpeakerPromoted,
        e.CohostAdded,
        e.HandRaised,
        e.HandLowered,
    ],
)
def test_events_that_grant_or_ask_change_nothing_on_the_audio(cls: type[e.Event]) -> None:
    """Being promoted does not publish for you: the speaker joins again and publishes."""
    assert media_action(event(cls, user_id="lee")) is None


@pytest.mark.parametrize("cls", [e.RoomStarted, e.RoomPinned])
def test_events_without_a_target_change_nothing(cls: type[e.Event]) -> None:
    assert media_action(event(cls)) is None


def test_an_action_concerns_its_target_and_the_end_concerns_everyone() -> None:
    assert concerns(Expel("lee"), "lee") and not concerns(Expel("lee"), "ann")
    assert concerns(SetMuted("lee", True), "lee") and not concerns(LeaveStage("lee"), "ann")
    assert concerns(CloseRoom(AT), "anyone")
