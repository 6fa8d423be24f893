"""The rules of a live audio room, one rule per test, against the pure Decider.

Every test drives ``projections.room.decide`` with commands, folds the accepted
events with ``evolve`` and checks the rejection (HTTP status and ``code``) or the
resulting state. No broker, no gateway: the rules are plain functions.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4, uuid5

import pytest

from projections.room import (
    DEFAULT_RULES,
    Decision,
    RoomRules,
    RoomState,
    decide,
    evolve,
    fold,
)
from schemas import commands as c
from schemas import events as e

ROOM_ID = "room-1"
HOST = "h"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)


def extra_fields(cls: type[c.Command], target: str = "b") -> dict[str, Any]:
    """The fields a command needs besides the envelope, with harmless defaults."""
    if issubclass(cls, c.TargetedCommand):
        return {"target_id": target}
    if cls is c.CreateRoom:
        return {"title": "Morning show", "start_now": True}
    if cls is c.FileReport:
        return {"reason": "spam"}
    if cls is c.MarkChapter:
        return {"title": "Intro"}
    if cls is c.SetRecording:
        return {"enabled": False}
    if cls is c.CreateClip:
        return {
            "clip_id": uuid4(),
            "start_seconds": 1.0,
            "end_seconds": 2.0,
            "uri": "k",
            "bytes": 1,
        }
    return {}


@dataclass
class Room:
    """One room under test: its state, its event log and a clock that ticks per command."""

    rules: RoomRules = DEFAULT_RULES
    state: RoomState | None = None
    events: list[e.Event] = field(default_factory=list)
    now: datetime = T0

    def command(self, cls: type[c.Command], actor: str, **fields: Any) -> c.Command:
        self.now += STEP
        return cls(
            command_id=uuid4(), room_id=ROOM_ID, actor_id=actor, issued_at=self.now, **fields
        )

    def decide(self, cmd: c.Command) -> Decision:
        return decide(self.state, cmd, self.rules)

    def accept(self, cls: type[c.Command], actor: str, **fields: Any) -> list[e.Event]:
        outcome = self.decide(self.command(cls, actor, **fields))
        assert isinstance(outcome, list), f"{cls.__name__} by {actor} was rejected: {outcome}"
        assert outcome, f"{cls.__name__} was accepted without any event"
        self.state = fold(outcome, self.state)
        self.events.extend(outcome)
        return outcome

    def reject(self, cls: type[c.Command], actor: str, **fields: Any) -> c.Rejection:
        before = self.state
        outcome = self.decide(self.command(cls, actor, **fields))
        assert isinstance(outcome, c.Rejection), f"{cls.__name__} by {actor} accepted: {outcome}"
        assert self.state == before
        return outcome

    @property
    def live(self) -> RoomState:
        assert self.state is not None
        return self.state

    # Shorthands for the commands most tests need.
    def promote(self, target: str, by: str = HOST) -> None:
        self.accept(c.PromoteSpeaker, by, target_id=target)

    def add_cohost(self, target: str) -> None:
        self.accept(c.AddCohost, HOST, target_id=target)

    def raise_hand(self, user: str) -> None:
        self.accept(c.RaiseHand, user)


def live_room(rules: RoomRules = DEFAULT_RULES) -> Room:
    room = Room(rules=rules)
    room.accept(c.CreateRoom, HOST, title="Morning show", start_now=True)
    return room


def scheduled_room() -> Room:
    room = Room()
    room.accept(c.CreateRoom, HOST, title="Later", scheduled_for=T0 + timedelta(days=1))
    return room


def ended_room() -> Room:
    room = live_room()
    room.accept(c.EndRoom, HOST)
    return room


def assert_rejected(rejection: c.Rejection, status: int, code: str) -> None:
    assert (rejection.status, rejection.code) == (status, code), rejection
    assert rejection.detail


def hand_order(state: RoomState) -> list[str]:
    return [hand.user_id for hand in state.hands]


# --- creating a room -----------------------------------------------------------


def test_start_now_and_scheduled_creates_live_or_scheduled_room() -> None:
    now_room = Room()
    events = now_room.accept(c.CreateRoom, HOST, title="Now", start_now=True)
    assert [ev.type for ev in events] == ["RoomCreated", "RoomStarted"]
    assert now_room.live.status == "live"
    assert now_room.live.started_at == now_room.now
    assert now_room.live.scheduled_for is None

    later = T0 + timedelta(days=2)
    later_room = Room()
    events = later_room.accept(c.CreateRoom, HOST, title="Later", scheduled_for=later)
    assert [ev.type for ev in events] == ["RoomCreated", "RoomScheduled"]
    assert later_room.live.status == "scheduled"
    assert later_room.live.scheduled_for == later
    assert later_room.live.started_at is None


def test_room_without_start_time_waits_unscheduled() -> None:
    room = Room()
    events = room.accept(c.CreateRoom, HOST, title="Whenever")
    assert [ev.type for ev in events] == ["RoomCreated"]
    assert room.live.status == "scheduled"
    assert room.live.scheduled_for is None


def test_creator_is_host_of_new_room() -> None:
    room = Room()
    room.accept(c.CreateRoom, "alice", title="Tea", topics=("tea", "japan"), start_now=True)
    state = room.live
    assert (state.room_id, state.host_id, state.title) == (ROOM_ID, "alice", "Tea")
    assert state.topics == ("tea", "japan")
    assert state.role_of("alice") == "host"
    assert state.created_at == room.now
    assert (state.cohost_ids, state.speaker_ids, state.hands, state.removed_ids) == ((), (), (), ())


def test_room_cannot_be_created_twice() -> None:
    room = live_room()
    assert_rejected(room.reject(c.CreateRoom, "a", title="Mine now"), 409, "room_exists")
    assert room.live.host_id == HOST


def test_room_cannot_both_start_now_and_be_scheduled() -> None:
    rejection = Room().reject(
        c.CreateRoom, HOST, title="Both", start_now=True, scheduled_for=T0 + timedelta(hours=1)
    )
    assert_rejected(rejection, 422, "start_conflict")


@pytest.mark.parametrize("delta", [timedelta(0), -timedelta(minutes=1)])
def test_room_cannot_be_scheduled_in_the_past(delta: timedelta) -> None:
    room = Room()
    scheduled_for = room.now + STEP + delta  # the command is issued at now + STEP
    rejection = room.reject(c.CreateRoom, HOST, title="Past", scheduled_for=scheduled_for)
    assert_rejected(rejection, 422, "schedule_in_past")


@pytest.mark.parametrize(
    "cls", [cls for cls in c.COMMAND_CLASSES if cls is not c.CreateRoom], ids=lambda k: k.__name__
)
def test_unknown_room_is_404(cls: type[c.Command]) -> None:
    rejection = Room().reject(cls, HOST, **extra_fields(cls))
    assert_rejected(rejection, 404, "room_not_found")
    assert ROOM_ID in rejection.detail


def test_command_rooms_do_not_understand_is_422() -> None:
    room = live_room()
    teleport = c.Command(
        command_id=uuid4(), type="TeleportRoom", room_id=ROOM_ID, actor_id=HOST, issued_at=T0
    )
    outcome = room.decide(teleport)
    assert isinstance(outcome, c.Rejection)
    assert_rejected(outcome, 422, "unknown_command")
    assert "TeleportRoom" in outcome.detail


# --- starting, ending, pinning ---------------------------------------------------


def test_only_host_can_start_room() -> None:
    room = scheduled_room()
    room.add_cohost("a")
    assert_rejected(room.reject(c.StartRoom, "a"), 403, "not_host")
    assert_rejected(room.reject(c.StartRoom, "b"), 403, "not_host")
    room.accept(c.StartRoom, HOST)
    assert room.live.status == "live"
    assert room.live.started_at == room.now


def test_live_room_cannot_be_started_again() -> None:
    room = live_room()
    started_at = room.live.started_at
    assert_rejected(room.reject(c.StartRoom, HOST), 409, "already_live")
    assert room.live.started_at == started_at


def test_only_host_can_end_room() -> None:
    room = live_room()
    room.add_cohost("a")
    assert_rejected(room.reject(c.EndRoom, "a"), 403, "not_host")
    assert_rejected(room.reject(c.EndRoom, "b"), 403, "not_host")
    assert room.live.status == "live"


def test_ending_live_room_records_host_as_reason() -> None:
    room = live_room()
    (ended,) = room.accept(c.EndRoom, HOST)
    assert isinstance(ended, e.RoomEnded)
    assert ended.data.reason == "host"
    assert room.live.status == "ended"
    assert room.live.ended_at == room.now


def test_ending_room_that_never_started_cancels_it() -> None:
    room = scheduled_room()
    (ended,) = room.accept(c.EndRoom, HOST)
    assert isinstance(ended, e.RoomEnded)
    assert ended.data.reason == "cancelled"
    assert room.live.status == "ended"
    assert room.live.started_at is None


def test_ending_room_lowers_every_hand() -> None:
    room = live_room()
    room.raise_hand("a")
    room.raise_hand("b")
    room.accept(c.EndRoom, HOST)
    assert room.live.hands == ()


ALLOWED_AFTER_END = (c.CreateRoom, c.PinRoom, c.UnpinRoom, c.FileReport, *c.RECORDING_COMMANDS)


@pytest.mark.parametrize(
    "cls",
    [cls for cls in c.COMMAND_CLASSES if cls not in ALLOWED_AFTER_END],
    ids=lambda k: k.__name__,
)
def test_ended_room_rejects_live_commands_with_409(cls: type[c.Command]) -> None:
    room = ended_room()
    for actor in (HOST, "a"):
        assert_rejected(room.reject(cls, actor, **extra_fields(cls, target="a")), 409, "room_ended")


def test_pin_and_unpin_allowed_after_end() -> None:
    room = ended_room()
    room.accept(c.PinRoom, HOST)
    assert room.live.pinned
    room.accept(c.UnpinRoom, HOST)
    assert not room.live.pinned
    assert room.live.status == "ended"


def test_only_host_can_pin_room() -> None:
    room = live_room()
    room.add_cohost("a")
    assert_rejected(room.reject(c.PinRoom, "a"), 403, "not_host")
    room.accept(c.PinRoom, HOST)
    assert_rejected(room.reject(c.UnpinRoom, "a"), 403, "not_host")
    assert room.live.pinned


def test_pinning_pinned_or_unpinning_unpinned_room_is_409() -> None:
    room = live_room()
    assert_rejected(room.reject(c.UnpinRoom, HOST), 409, "pin_unchanged")
    room.accept(c.PinRoom, HOST)
    assert_rejected(room.reject(c.PinRoom, HOST), 409, "pin_unchanged")


@pytest.mark.parametrize("cls", [c.RaiseHand, c.LowerHand, c.MarkChapter], ids=lambda k: k.__name__)
def test_hands_and_chapters_need_a_live_room(cls: type[c.Command]) -> None:
    room = scheduled_room()
    assert_rejected(room.reject(cls, HOST, **extra_fields(cls)), 409, "room_not_live")


# --- co-hosts ------------------------------------------------------------------


def test_only_host_can_add_or_remove_cohosts() -> None:
    room = live_room()
    room.add_cohost("a")
    room.promote("s")
    for actor in ("a", "s", "b"):
        assert_rejected(room.reject(c.AddCohost, actor, target_id="c"), 403, "not_host")
        assert_rejected(room.reject(c.RemoveCohost, actor, target_id="a"), 403, "not_host")
    assert room.live.cohost_ids == ("a",)


def test_host_cannot_be_made_cohost() -> None:
    room = live_room()
    assert_rejected(room.reject(c.AddCohost, HOST, target_id=HOST), 409, "is_host")


def test_cohost_cannot_be_added_twice() -> None:
    room = live_room()
    room.add_cohost("a")
    assert_rejected(room.reject(c.AddCohost, HOST, target_id="a"), 409, "already_cohost")
    assert room.live.cohost_ids == ("a",)


def test_cohost_cap_is_two_by_default() -> None:
    room = live_room()
    room.add_cohost("a")
    room.add_cohost("b")
    assert_rejected(room.reject(c.AddCohost, HOST, target_id="c"), 409, "cohost_cap")
    room.accept(c.RemoveCohost, HOST, target_id="a")
    room.add_cohost("c")
    assert room.live.cohost_ids == ("b", "c")


def test_speaker_made_cohost_leaves_speaker_list_and_keeps_stage() -> None:
    room = live_room()
    room.promote("a")
    room.accept(c.MuteSpeaker, HOST, target_id="a")
    room.add_cohost("a")
    state = room.live
    assert state.cohost_ids == ("a",)
    assert "a" not in state.speaker_ids
    assert state.on_stage("a")
    assert state.role_of("a") == "cohost"
    assert state.muted_ids == ("a",)


def test_cohost_appointment_lowers_their_hand() -> None:
    room = live_room()
    room.raise_hand("a")
    room.raise_hand("b")
    room.add_cohost("a")
    assert hand_order(room.live) == ["b"]


def test_removed_cohost_returns_to_audience() -> None:
    room = live_room()
    room.add_cohost("a")
    room.accept(c.MuteSpeaker, HOST, target_id="a")
    room.accept(c.RemoveCohost, HOST, target_id="a")
    state = room.live
    assert state.role_of("a") == "listener"
    assert not state.on_stage("a")
    assert "a" not in state.muted_ids
    assert not state.moderates("a")


def test_removing_cohost_rights_from_non_cohost_is_409() -> None:
    room = live_room()
    room.promote("a")
    assert_rejected(room.reject(c.RemoveCohost, HOST, target_id="a"), 409, "not_cohost")
    assert room.live.speaker_ids == ("a",)


# --- speakers and hands ------------------------------------------------------------


def test_promotion_does_not_need_raised_hand() -> None:
    room = live_room()
    (promoted,) = room.accept(c.PromoteSpeaker, HOST, target_id="a")
    assert isinstance(promoted, e.SpeakerPromoted)
    assert promoted.data.user_id == "a"
    assert room.live.speaker_ids == ("a",)
    assert room.live.role_of("a") == "speaker"


def test_promotion_clears_raised_hand() -> None:
    room = live_room()
    room.raise_hand("a")
    room.raise_hand("b")
    room.promote("a")
    assert hand_order(room.live) == ["b"]
    assert not room.live.hand_raised("a")


def test_promotion_is_allowed_before_room_goes_live() -> None:
    room = scheduled_room()
    room.promote("a")
    assert room.live.speaker_ids == ("a",)


def test_cohost_can_invite_speakers() -> None:
    room = live_room()
    room.add_cohost("a")
    room.promote("b", by="a")
    assert room.live.speaker_ids == ("b",)


def test_speakers_and_listeners_cannot_invite_speakers() -> None:
    room = live_room()
    room.promote("s")
    assert_rejected(room.reject(c.PromoteSpeaker, "s", target_id="b"), 403, "not_moderator")
    assert_rejected(room.reject(c.PromoteSpeaker, "b", target_id="b"), 403, "not_moderator")
    assert room.live.speaker_ids == ("s",)


@pytest.mark.parametrize("target", [HOST, "co", "s"])
def test_someone_on_stage_cannot_be_promoted(target: str) -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("s")
    before = room.live
    assert_rejected(room.reject(c.PromoteSpeaker, HOST, target_id=target), 409, "already_speaking")
    assert room.live == before


def test_removed_listener_cannot_be_promoted() -> None:
    room = live_room()
    room.accept(c.RemoveParticipant, HOST, target_id="a")
    assert_rejected(room.reject(c.PromoteSpeaker, HOST, target_id="a"), 409, "target_removed")
    assert room.live.speaker_ids == ()


def test_removed_user_cannot_be_made_cohost() -> None:
    room = live_room()
    room.accept(c.RemoveParticipant, HOST, target_id="a")
    assert_rejected(room.reject(c.AddCohost, HOST, target_id="a"), 409, "target_removed")
    assert room.live.cohost_ids == ()


def test_speaker_cap_rejects_eleventh_speaker() -> None:
    room = live_room()
    speakers = [f"s{i}" for i in range(10)]
    for speaker in speakers:
        room.promote(speaker)
    assert room.live.speaker_ids == tuple(speakers)
    assert_rejected(room.reject(c.PromoteSpeaker, HOST, target_id="s10"), 409, "speaker_cap")
    room.accept(c.DemoteSpeaker, HOST, target_id="s0")
    room.promote("s10")
    assert len(room.live.speaker_ids) == 10


def test_cohosts_do_not_take_speaker_seats() -> None:
    room = live_room()
    room.add_cohost("a")
    room.add_cohost("b")
    for i in range(10):
        room.promote(f"s{i}")
    assert len(room.live.speaker_ids) == 10
    assert_rejected(room.reject(c.PromoteSpeaker, "a", target_id="s10"), 409, "speaker_cap")


def test_speaker_cap_follows_room_rules() -> None:
    room = live_room(RoomRules(speaker_cap=1))
    room.promote("a")
    assert_rejected(room.reject(c.PromoteSpeaker, HOST, target_id="b"), 409, "speaker_cap")


def test_speaker_may_step_down_but_not_demote_others() -> None:
    room = live_room()
    room.promote("a")
    room.promote("b")
    assert_rejected(room.reject(c.DemoteSpeaker, "a", target_id="b"), 403, "not_moderator")
    room.accept(c.DemoteSpeaker, "a", target_id="a")
    assert room.live.speaker_ids == ("b",)
    assert room.live.role_of("a") == "listener"


def test_cohost_can_demote_speakers() -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("a")
    room.accept(c.DemoteSpeaker, "co", target_id="a")
    assert room.live.speaker_ids == ()


def test_demoting_someone_who_is_not_a_speaker_is_409() -> None:
    room = live_room()
    room.add_cohost("co")
    assert_rejected(room.reject(c.DemoteSpeaker, HOST, target_id="a"), 409, "not_speaker")
    assert_rejected(room.reject(c.DemoteSpeaker, HOST, target_id="co"), 409, "not_speaker")
    assert room.live.cohost_ids == ("co",)


def test_demotion_clears_mute() -> None:
    room = live_room()
    room.promote("a")
    room.accept(c.MuteSpeaker, HOST, target_id="a")
    room.accept(c.DemoteSpeaker, HOST, target_id="a")
    assert room.live.muted_ids == ()


def test_hands_queue_in_raise_order() -> None:
    room = live_room()
    raised_at = {}
    for user in ("c", "a", "b"):
        room.raise_hand(user)
        raised_at[user] = room.now
    assert hand_order(room.live) == ["c", "a", "b"]
    assert [hand.raised_at for hand in room.live.hands] == [raised_at[u] for u in ("c", "a", "b")]

    room.accept(c.LowerHand, "c")
    room.raise_hand("c")
    assert hand_order(room.live) == ["a", "b", "c"]
    assert room.live.hands[-1].raised_at == room.now


def test_hand_cannot_be_raised_twice() -> None:
    room = live_room()
    room.raise_hand("a")
    first = room.live.hands
    assert_rejected(room.reject(c.RaiseHand, "a"), 409, "hand_already_raised")
    assert room.live.hands == first


@pytest.mark.parametrize("user", [HOST, "co", "s"])
def test_someone_on_stage_cannot_raise_hand(user: str) -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("s")
    assert_rejected(room.reject(c.RaiseHand, user), 409, "already_speaking")
    assert room.live.hands == ()


def test_lowering_a_hand_that_is_not_raised_is_409() -> None:
    room = live_room()
    room.raise_hand("b")
    assert_rejected(room.reject(c.LowerHand, "a"), 409, "hand_not_raised")
    room.accept(c.LowerHand, "b")
    assert room.live.hands == ()


# --- mute and remove ---------------------------------------------------------------


def test_moderators_mute_and_unmute_speakers() -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("a")
    room.accept(c.MuteSpeaker, "co", target_id="a")
    assert room.live.muted_ids == ("a",)
    room.accept(c.UnmuteSpeaker, HOST, target_id="a")
    assert room.live.muted_ids == ()


def test_muting_muted_or_unmuting_unmuted_speaker_is_409() -> None:
    room = live_room()
    room.promote("a")
    assert_rejected(room.reject(c.UnmuteSpeaker, HOST, target_id="a"), 409, "mute_unchanged")
    room.accept(c.MuteSpeaker, HOST, target_id="a")
    assert_rejected(room.reject(c.MuteSpeaker, HOST, target_id="a"), 409, "mute_unchanged")
    assert room.live.muted_ids == ("a",)


def test_only_people_on_stage_can_be_muted() -> None:
    room = live_room()
    assert_rejected(room.reject(c.MuteSpeaker, HOST, target_id="a"), 409, "not_speaker")
    assert room.live.muted_ids == ()


def test_speakers_and_listeners_cannot_mute() -> None:
    room = live_room()
    room.promote("a")
    room.promote("b")
    assert_rejected(room.reject(c.MuteSpeaker, "a", target_id="b"), 403, "not_moderator")
    assert_rejected(room.reject(c.MuteSpeaker, "l", target_id="b"), 403, "not_moderator")
    assert_rejected(room.reject(c.RemoveParticipant, "a", target_id="l"), 403, "not_moderator")
    assert room.live.muted_ids == ()


def test_nobody_can_mute_the_host() -> None:
    room = live_room()
    room.add_cohost("co")
    for actor in (HOST, "co"):
        assert_rejected(room.reject(c.MuteSpeaker, actor, target_id=HOST), 403, "is_host")
    assert room.live.muted_ids == ()


def test_host_cannot_be_removed_or_demoted() -> None:
    room = live_room()
    room.add_cohost("co")
    for actor in (HOST, "co"):
        assert_rejected(room.reject(c.RemoveParticipant, actor, target_id=HOST), 403, "is_host")
        assert_rejected(room.reject(c.DemoteSpeaker, actor, target_id=HOST), 403, "is_host")
    assert room.live.role_of(HOST) == "host"
    assert room.live.removed_ids == ()


def test_cohost_cannot_remove_another_cohost() -> None:
    room = live_room()
    room.add_cohost("a")
    room.add_cohost("b")
    assert_rejected(room.reject(c.RemoveParticipant, "a", target_id="b"), 403, "is_cohost")
    assert room.live.cohost_ids == ("a", "b")
    room.accept(c.RemoveParticipant, HOST, target_id="b")
    assert room.live.cohost_ids == ("a",)


def test_only_the_host_mutes_a_cohost() -> None:
    room = live_room()
    room.add_cohost("a")
    room.add_cohost("b")
    assert_rejected(room.reject(c.MuteSpeaker, "a", target_id="b"), 403, "is_cohost")
    room.accept(c.MuteSpeaker, HOST, target_id="b")
    assert room.live.muted_ids == ("b",)


def test_cohost_can_mute_and_remove_speakers_and_listeners() -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("s")
    room.accept(c.MuteSpeaker, "co", target_id="s")
    room.accept(c.RemoveParticipant, "co", target_id="s")
    room.accept(c.RemoveParticipant, "co", target_id="l")
    assert room.live.removed_ids == ("s", "l")


def test_removal_clears_every_role_and_hand() -> None:
    room = live_room()
    room.add_cohost("co")
    room.accept(c.MuteSpeaker, HOST, target_id="co")
    room.promote("s")
    room.accept(c.MuteSpeaker, HOST, target_id="s")
    room.raise_hand("l")
    room.raise_hand("keep")
    for user in ("co", "s", "l"):
        room.accept(c.RemoveParticipant, HOST, target_id=user)
    state = room.live
    assert state.removed_ids == ("co", "s", "l")
    assert state.cohost_ids == ()
    assert state.speaker_ids == ()
    assert state.muted_ids == ()
    assert hand_order(state) == ["keep"]
    assert {state.role_of(u) for u in ("co", "s", "l")} == {"removed"}


@pytest.mark.parametrize(
    "cls",
    [cls for cls in c.COMMAND_CLASSES if cls is not c.CreateRoom],
    ids=lambda k: k.__name__,
)
def test_removed_user_cannot_act_in_the_room(cls: type[c.Command]) -> None:
    room = live_room()
    room.promote("b")
    room.accept(c.RemoveParticipant, HOST, target_id="a")
    assert_rejected(room.reject(cls, "a", **extra_fields(cls, target="b")), 403, "removed")


def test_removed_user_cannot_report_after_room_ended() -> None:
    room = live_room()
    room.accept(c.RemoveParticipant, HOST, target_id="a")
    room.accept(c.EndRoom, HOST)
    assert_rejected(room.reject(c.FileReport, "a", reason="spam"), 403, "removed")


# --- the recording ---------------------------------------------------------------


def test_recording_is_on_unless_the_host_turns_it_off() -> None:
    room = scheduled_room()
    assert room.live.recording
    (off,) = room.accept(c.SetRecording, HOST, enabled=False)
    assert isinstance(off, e.RecordingSettingChanged) and not room.live.recording
    assert room.decide(room.command(c.SetRecording, HOST, enabled=False)) == []  # already off
    room.add_cohost("a")
    assert_rejected(room.reject(c.SetRecording, "a", enabled=True), 403, "not_host")
    room.accept(c.SetRecording, HOST, enabled=True)
    assert room.live.recording


def test_a_room_created_without_recording_is_not_recorded() -> None:
    room = Room()
    room.accept(c.CreateRoom, HOST, title="Off the record", start_now=True, recording=False)
    assert not room.live.recording


def test_the_host_publishes_unpublishes_and_deletes_the_recording_after_the_end() -> None:
    room = live_room()
    room.add_cohost("a")
    assert_rejected(room.reject(c.PublishRecording, HOST), 409, "recording_not_finished")
    room.accept(c.EndRoom, HOST)
    assert_rejected(room.reject(c.PublishRecording, "a"), 403, "not_host")
    (published,) = room.accept(c.PublishRecording, HOST)
    assert isinstance(published, e.RecordingPublished) and room.live.recording_published
    assert room.decide(room.command(c.PublishRecording, HOST)) == []
    (unpublished,) = room.accept(c.UnpublishRecording, HOST)
    assert isinstance(unpublished, e.RecordingUnpublished) and not room.live.recording_published
    room.accept(c.PublishRecording, HOST)
    (deleted,) = room.accept(c.DeleteRecording, HOST)
    assert isinstance(deleted, e.RecordingDeleted)
    assert room.live.recording_deleted and not room.live.recording_published
    assert deleted.data.recording_id == published.data.recording_id
    for cls in (c.PublishRecording, c.DeleteRecording, c.CreateClip):
        assert_rejected(room.reject(cls, HOST, **extra_fields(cls)), 404, "recording_not_found")


def test_a_clip_is_a_range_of_the_recording() -> None:
    room = live_room()
    room.accept(c.EndRoom, HOST)
    clip_id = uuid4()
    fields = {"clip_id": clip_id, "uri": "recordings/x/clips/y.opus", "bytes": 900}
    (clip,) = room.accept(c.CreateClip, HOST, start_seconds=3.0, end_seconds=9.5, **fields)
    assert isinstance(clip, e.ClipCreated)
    assert (clip.data.clip_id, clip.data.start_seconds, clip.data.end_seconds) == (
        clip_id,
        3.0,
        9.5,
    )
    rejection = room.reject(c.CreateClip, HOST, start_seconds=4.0, end_seconds=4.0, **fields)
    assert_rejected(rejection, 422, "empty_clip")
    assert_rejected(
        room.reject(c.CreateClip, "b", start_seconds=1, end_seconds=2, **fields), 403, "not_host"
    )


# --- reports and chapters ------------------------------------------------------------


def test_anyone_can_report_during_and_after_the_room() -> None:
    room = live_room()
    (report,) = room.accept(c.FileReport, "a", reason="spam", target_user_id="b", note="shouting")
    assert isinstance(report, e.ReportFiled)
    assert (report.data.reason, report.data.target_user_id, report.data.note) == (
        "spam",
        "b",
        "shouting",
    )
    room.accept(c.EndRoom, HOST)
    room.accept(c.FileReport, "c", reason="abuse")
    assert room.live.report_count == 2


def test_chapter_offset_counts_from_started_at() -> None:
    room = scheduled_room()
    room.accept(c.StartRoom, HOST)
    started_at = room.now
    room.now = started_at + timedelta(minutes=5)  # the next command is issued STEP later
    (chapter,) = room.accept(c.MarkChapter, HOST, title="Q&A")
    assert isinstance(chapter, e.ChapterMarked)
    assert chapter.data.offset_seconds == 300 + STEP.total_seconds()
    (marked,) = room.live.chapters
    assert (marked.title, marked.offset_seconds, marked.marked_at) == ("Q&A", 310.0, room.now)


def test_chapters_accumulate_in_order() -> None:
    room = live_room()
    room.accept(c.MarkChapter, HOST, title="One")
    room.accept(c.MarkChapter, HOST, title="Two")
    assert [ch.title for ch in room.live.chapters] == ["One", "Two"]
    assert [ch.offset_seconds for ch in room.live.chapters] == [10.0, 20.0]


def test_only_host_marks_chapters() -> None:
    room = live_room()
    room.add_cohost("co")
    assert_rejected(room.reject(c.MarkChapter, "co", title="Mine"), 403, "not_host")
    assert room.live.chapters == ()


# --- the log: seq, determinism, replay ---------------------------------------------------


def test_each_accepted_command_continues_seq_by_one() -> None:
    room = Room()
    room.accept(c.CreateRoom, HOST, title="Seq", start_now=True)
    assert [ev.seq for ev in room.events] == [1, 2]
    for step in range(5):
        room.reject(c.StartRoom, HOST)  # rejections consume no seq
        version = room.live.version
        events = room.accept(c.PromoteSpeaker, HOST, target_id=f"s{step}")
        events += room.accept(c.DemoteSpeaker, HOST, target_id=f"s{step}")
        assert [ev.seq for ev in events] == [version + 1, version + 2]
    room.accept(c.EndRoom, HOST)
    assert [ev.seq for ev in room.events] == list(range(1, len(room.events) + 1))
    assert room.live.version == len(room.events)


def test_multi_event_decision_takes_contiguous_seqs_and_ids() -> None:
    room = Room()
    cmd = room.command(c.CreateRoom, HOST, title="Two", start_now=True)
    outcome = room.decide(cmd)
    assert isinstance(outcome, list)
    assert [ev.seq for ev in outcome] == [1, 2]
    ids = [uuid5(cmd.command_id, str(index)) for index in range(2)]
    assert [ev.event_id for ev in outcome] == ids
    assert {ev.occurred_at for ev in outcome} == {cmd.issued_at}
    assert {(ev.room_id, ev.actor_id) for ev in outcome} == {(ROOM_ID, HOST)}


def test_redeciding_same_command_yields_identical_events() -> None:
    room = live_room()
    room.promote("s")
    commands = [
        room.command(c.PromoteSpeaker, HOST, target_id="a"),
        room.command(c.MuteSpeaker, HOST, target_id="s"),
        room.command(c.RaiseHand, "b"),
        room.command(c.FileReport, "b", reason="spam", target_user_id="s"),
        room.command(c.MarkChapter, HOST, title="Later"),
        room.command(c.EndRoom, HOST),
    ]
    for cmd in commands:
        first, second = room.decide(cmd), room.decide(cmd)
        assert isinstance(first, list) and first
        assert first == second
        assert [ev.model_dump_json() for ev in first] == [ev.model_dump_json() for ev in second]
        other = room.decide(cmd.model_copy(update={"command_id": uuid4()}))
        assert isinstance(other, list)
        assert {ev.event_id for ev in other}.isdisjoint(ev.event_id for ev in first)


def test_folding_the_log_rebuilds_the_room() -> None:
    room = live_room()
    room.add_cohost("co")
    room.promote("s")
    room.raise_hand("l")
    room.accept(c.MuteSpeaker, "co", target_id="s")
    room.accept(c.RemoveParticipant, HOST, target_id="l")
    room.accept(c.MarkChapter, HOST, title="Wrap")
    room.accept(c.FileReport, "x", reason="spam")
    room.accept(c.EndRoom, HOST)
    room.accept(c.PinRoom, HOST)
    assert fold(room.events) == room.state


def test_redelivered_event_changes_nothing() -> None:
    room = live_room()
    room.raise_hand("a")
    room.accept(c.FileReport, "a", reason="spam")
    state = room.live
    for event in room.events:
        assert evolve(state, event) == state
    assert fold(room.events, state) == state
