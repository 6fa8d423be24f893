"""The room writer's step, without a broker: what is appended, stored and answered.

``projections.writer.step`` is the whole decision the Faust agent makes per
command; the agent only loads, appends, stores and sends around it.
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from projections.room import SequenceGap, decide, evolve, fold
from projections.writer import RECENT_RESULTS, RoomRecord, Step, step
from schemas import commands as c
from schemas import events as e
from schemas.room import RoomState

ROOM = "room-w"
HOST = "host"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def command(cls: type[c.Command], actor: str = HOST, **fields: Any) -> c.Command:
    return cls(command_id=uuid4(), room_id=ROOM, actor_id=actor, issued_at=T0, **fields)


def run(record: RoomRecord, cmd: c.Command) -> Step:
    return step(record, cmd, decided_by="test-worker")


def live_record() -> RoomRecord:
    created = run(RoomRecord(), command(c.CreateRoom, title="Show", start_now=True))
    return created.record


def test_an_accepted_command_appends_its_events_and_answers_with_the_typed_state() -> None:
    done = run(RoomRecord(), command(c.CreateRoom, title="Show", start_now=True))
    assert [ev.type for ev in done.events] == ["RoomCreated", "RoomStarted"]
    assert [ev.seq for ev in done.events] == [1, 2]
    assert done.changed
    result = done.result
    assert result.accepted and result.version == 2 and result.decided_by == "test-worker"
    assert result.event_types == ("RoomCreated", "RoomStarted")
    assert isinstance(result.state, RoomState) and result.state.status == "live"
    assert done.record.state == result.state == fold(done.events)


def test_the_stored_record_remembers_the_answer_without_its_snapshot() -> None:
    done = run(RoomRecord(), command(c.CreateRoom, title="Show"))
    (remembered,) = done.record.recent
    assert remembered.command_id == done.result.command_id and remembered.state is None
    assert RoomRecord.load(done.record.dump()) == done.record  # survives the changelog


def test_a_redelivered_command_gets_its_first_answer_and_appends_nothing() -> None:
    record = live_record()
    promote = command(c.PromoteSpeaker, target_id="lee")
    first = run(record, promote)
    later = run(first.record, command(c.RaiseHand, actor="ann"))
    again = run(later.record, promote)  # the same command_id, after more happened
    assert not again.events and not again.changed
    assert again.record == later.record
    assert again.result.accepted and again.result.version == first.result.version
    assert again.result.event_types == ("SpeakerPromoted",)
    assert again.result.state == later.record.state  # today's state, for the gateway


def test_a_rejection_is_answered_and_changes_nothing() -> None:
    record = live_record()
    done = run(record, command(c.PromoteSpeaker, actor="ann", target_id="lee"))
    assert not done.events and done.record == record
    assert not done.result.accepted and done.result.state is None
    assert done.result.rejection is not None and done.result.rejection.code == "not_moderator"
    assert done.result.version == 2


def test_rejections_are_not_remembered_so_a_retry_is_decided_afresh() -> None:
    record = live_record()
    start = command(c.StartRoom)
    assert run(record, start).result.rejection is not None  # already live
    assert run(record, start).record.recent == record.recent


def test_only_the_most_recent_answers_are_kept() -> None:
    record = live_record()
    for _ in range(RECENT_RESULTS + 5):
        record = run(record, command(c.MarkChapter, title="c")).record
    assert len(record.recent) == RECENT_RESULTS


def test_a_decider_that_skips_a_seq_is_refused_not_appended() -> None:
    def skipping(state: RoomState | None, cmd: c.Command, rules: Any) -> Any:
        decided = decide(state, cmd, rules)
        assert isinstance(decided, list)
        return [ev.model_copy(update={"seq": (ev.seq or 0) + 1}) for ev in decided]

    with pytest.raises(SequenceGap) as gap:
        step(live_record(), command(c.EndRoom), decided_by="w", decide=skipping)
    assert (gap.value.expected, gap.value.got) == (3, 4)


def test_a_decider_that_reuses_a_seq_is_refused() -> None:
    def repeating(state: RoomState | None, cmd: c.Command, rules: Any) -> Any:
        decided = decide(state, cmd, rules)
        assert isinstance(decided, list)
        return [ev.model_copy(update={"seq": 2}) for ev in decided]

    with pytest.raises(ValueError, match="continue"):
        step(live_record(), command(c.EndRoom), decided_by="w", decide=repeating)


# --- evolve's seq rule, which the step relies on ----------------------------------


def events_of_a_room() -> list[e.Event]:
    record = RoomRecord()
    events: list[e.Event] = []
    for cmd in (
        command(c.CreateRoom, title="Show", start_now=True),
        command(c.RaiseHand, actor="ann"),
        command(c.PromoteSpeaker, target_id="ann"),
    ):
        done = run(record, cmd)
        record, events = done.record, [*events, *done.events]
    return events


def test_evolve_refuses_an_event_past_the_next_seq() -> None:
    created, started, raised, promoted = events_of_a_room()
    state = fold([created, started])
    with pytest.raises(SequenceGap, match="expected seq 3, got 4"):
        evolve(state, promoted)
    assert fold([created, started, raised, promoted]) is not None


def test_evolve_ignores_an_event_it_has_applied_already() -> None:
    events = events_of_a_room()
    state = fold(events)
    assert evolve(state, events[1]) == state
    assert fold([*events, *events]) == state


def test_a_room_must_begin_with_its_creation() -> None:
    _, started, *_ = events_of_a_room()
    first = started.model_copy(update={"seq": 1})
    with pytest.raises(SequenceGap, match="RoomStarted before RoomCreated"):
        evolve(None, first)


def test_events_of_other_topics_carry_no_seq_and_change_nothing() -> None:
    state = fold(events_of_a_room())
    activity = e.SpeakerActivity(
        event_id=UUID(int=1),
        room_id=ROOM,
        actor_id="ann",
        occurred_at=T0 + timedelta(seconds=5),
        data=e.SpeakerActivityData(user_id="ann", talking=True, offset_seconds=5),
    )
    assert evolve(state, activity) == state
