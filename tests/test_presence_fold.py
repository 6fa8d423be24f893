"""Listener counts folded from presence batches, removals and room ends."""

from datetime import UTC, datetime
from uuid import uuid4

from projections.presence import (
    MembershipChanges,
    PresenceState,
    fold_batch,
    fold_room_event,
)
from schemas import events as e
from schemas.presence import PresenceBatch, presence_event

ROOM_ID = "room-l"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def joined(user: str) -> e.ListenerJoined | e.ListenerLeft:
    return presence_event(ROOM_ID, user, joined=True, at=T0)


def left(user: str) -> e.ListenerJoined | e.ListenerLeft:
    return presence_event(ROOM_ID, user, joined=False, at=T0)


def batch(
    seq: int, *events: e.ListenerJoined | e.ListenerLeft, edge: str = "gw-1"
) -> PresenceBatch:
    return PresenceBatch(
        batch_id=uuid4(), edge_id=edge, batch_seq=seq, room_id=ROOM_ID, events=events
    )


def removed(user: str) -> e.ParticipantRemoved:
    return e.ParticipantRemoved(
        event_id=uuid4(),
        room_id=ROOM_ID,
        actor_id="h",
        seq=9,
        occurred_at=T0,
        data=e.UserData(user_id=user),
    )


def ended() -> e.RoomEnded:
    return e.RoomEnded(event_id=uuid4(), room_id=ROOM_ID, actor_id="h", seq=10, occurred_at=T0)


class Audience:
    """The fold plus the membership table the presence agent keeps beside it."""

    def __init__(self) -> None:
        self.state = PresenceState(room_id=ROOM_ID)
        self.members: dict[str, bool] = {}

    def is_member(self, user: str) -> bool:
        return self.members.get(user, False)

    def deliver(self, presence: PresenceBatch) -> MembershipChanges:
        self.state, changes = fold_batch(self.state, presence, self.is_member)
        self.members.update(changes)
        return changes

    def room_event(self, event: e.Event) -> MembershipChanges:
        self.state, changes = fold_room_event(self.state, event, self.is_member)
        self.members.update(changes)
        return changes

    @property
    def count(self) -> int:
        return self.state.listener_count

    @property
    def peak(self) -> int:
        return self.state.peak_listeners


def test_distinct_listeners_are_counted_once() -> None:
    audience = Audience()
    changes = audience.deliver(batch(1, joined("a"), joined("a"), joined("b")))
    assert changes == {"a": True, "b": True}
    assert audience.count == 2
    assert audience.deliver(batch(2, joined("b"), joined("a"))) == {}
    assert audience.count == 2
    audience.deliver(batch(3, joined("c"), edge="gw-2"))
    assert audience.count == 3


def test_membership_table_is_consulted_across_batches() -> None:
    audience = Audience()
    audience.members["a"] = True  # joined earlier, e.g. before a restart of the agent
    audience.state = audience.state.model_copy(update={"listener_count": 1, "peak_listeners": 1})
    assert audience.deliver(batch(1, joined("a"))) == {}
    assert audience.count == 1
    assert audience.deliver(batch(2, left("a"))) == {"a": False}
    assert audience.count == 0


def test_leave_without_join_is_ignored() -> None:
    audience = Audience()
    assert audience.deliver(batch(1, left("a"))) == {}
    assert (audience.count, audience.peak) == (0, 0)
    audience.deliver(batch(2, joined("b")))
    audience.deliver(batch(3, left("a"), left("a")))
    assert audience.count == 1


def test_second_leave_is_ignored() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), joined("b")))
    audience.deliver(batch(2, left("a")))
    assert audience.deliver(batch(3, left("a"))) == {}
    assert audience.count == 1


def test_join_and_leave_in_one_batch() -> None:
    audience = Audience()
    changes = audience.deliver(batch(1, joined("a"), left("a"), joined("b")))
    assert changes == {"a": False, "b": True}
    assert (audience.count, audience.peak) == (1, 1)
    assert audience.members == {"a": False, "b": True}


def test_peak_is_kept_after_leaves() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), joined("b"), joined("c")))
    audience.deliver(batch(2, left("a"), left("b")))
    assert (audience.count, audience.peak) == (1, 3)
    audience.deliver(batch(3, joined("d")))
    assert (audience.count, audience.peak) == (2, 3)


def test_peak_counts_the_high_point_inside_a_batch() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), joined("b"), left("a"), left("b")))
    assert (audience.count, audience.peak) == (0, 2)


def test_duplicate_batch_is_ignored() -> None:
    audience = Audience()
    first = batch(1, joined("a"), joined("b"))
    audience.deliver(first)
    audience.deliver(batch(2, left("a")))
    before = audience.state
    assert audience.deliver(first) == {}  # redelivered: same edge_id and batch_seq
    assert audience.deliver(batch(2, joined("c"))) == {}  # same (edge, seq), other batch_id
    assert audience.state == before
    assert (audience.count, audience.peak) == (1, 2)
    assert audience.members == {"a": False, "b": True}


def test_same_batch_seq_from_another_edge_is_counted() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), edge="gw-1"))
    assert audience.deliver(batch(1, joined("b"), edge="gw-2")) == {"b": True}
    assert audience.count == 2
    assert audience.state.edge_marks == {"gw-1": 1, "gw-2": 1}


def test_batch_seq_may_skip_numbers() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a")))
    audience.deliver(batch(5, joined("b")))
    assert audience.count == 2
    assert audience.state.edge_marks == {"gw-1": 5}


def test_removal_decrements_only_if_present() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), joined("b")))
    assert audience.room_event(removed("stranger")) == {}
    assert (audience.count, audience.peak) == (2, 2)
    assert audience.room_event(removed("a")) == {"a": False}
    assert (audience.count, audience.peak) == (1, 2)
    assert audience.members == {"a": False, "b": True}
    assert audience.room_event(removed("a")) == {}  # redelivered removal
    assert audience.count == 1


def test_join_that_raced_a_removal_does_not_count() -> None:
    audience = Audience()
    audience.room_event(removed("kicked"))
    audience.deliver(batch(1, joined("kicked"), joined("fine")))
    assert audience.count == 1
    assert audience.members.get("kicked") is not True


def test_other_room_events_do_not_touch_the_count() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a")))
    before = audience.state
    promoted = e.SpeakerPromoted(
        event_id=uuid4(),
        room_id=ROOM_ID,
        actor_id="h",
        seq=3,
        occurred_at=T0,
        data=e.UserData(user_id="a"),
    )
    assert audience.room_event(promoted) == {}
    assert audience.state == before


def test_room_end_zeroes_the_count_and_ignores_later_joins() -> None:
    audience = Audience()
    audience.deliver(batch(1, joined("a"), joined("b")))
    assert audience.room_event(ended()) == {}
    assert audience.state.closed
    assert (audience.count, audience.peak) == (0, 2)

    assert audience.deliver(batch(2, joined("c"), joined("d"), joined("e"))) == {}
    assert audience.deliver(batch(3, left("a"))) == {}
    assert audience.room_event(removed("b")) == {}
    assert (audience.count, audience.peak) == (0, 2)
    assert audience.state.edge_marks == {"gw-1": 3}

    closed = audience.state
    assert audience.room_event(ended()) == {}
    assert audience.state == closed
