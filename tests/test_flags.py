"""The moderation queue folded from reports, automated flags and resolutions (pure)."""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.flags import RoomQueue, apply, fold, open_items
from schemas import events as e

ROOM = "room-f"
T0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
REPORT = uuid.UUID(int=1)
LOUD = uuid.UUID(int=2)
MILD = uuid.UUID(int=3)


def event(
    cls: type[e.Event], actor: str, minute: float, data: dict[str, object], seq: int | None = None
) -> e.Event:
    return cls.model_validate(
        {"event_id": uuid.uuid4(), "room_id": ROOM, "actor_id": actor, "seq": seq,
         "occurred_at": T0 + timedelta(minutes=minute), "data": data}
    )  # fmt: skip


def flagged(flag_id: uuid.UUID, minute: float, score: float, category: str) -> e.Event:
    return event(
        e.SegmentFlagged, "stoa-asr", minute,
        {"flag_id": flag_id, "segment_id": uuid.uuid4(), "category": category, "score": score,
         "start_seconds": minute * 60, "end_seconds": minute * 60 + 2, "speaker_id": "loud",
         "text": "you are a stupid idiot and I will hurt you"},
    )  # fmt: skip


def room_log() -> list[e.Event]:
    return [
        event(e.ReportFiled, "amy", 1, {"report_id": REPORT, "target_user_id": "loud",
                                        "reason": "harassment", "note": "shouting at me"}, seq=5),
    ]  # fmt: skip


def moderation_log() -> list[e.Event]:
    return [
        flagged(LOUD, 2, 0.97, "threat"),
        flagged(MILD, 3, 0.62, "profanity"),
        event(e.FlagResolved, "host", 4, {"flag_id": LOUD, "action": "mute"}),
        event(e.FlagResolved, "host", 5, {"flag_id": REPORT, "action": "remove"}),
    ]


def test_reports_and_flags_wait_in_one_queue_until_resolved() -> None:
    queue = fold([*room_log(), *moderation_log()[:2]])
    assert [(i.kind, i.category) for i in open_items(queue)] == [
        ("report", "harassment"),  # a person's report counts as certain
        ("flag", "threat"),
        ("flag", "profanity"),
    ]
    flag = next(i for i in open_items(queue) if i.kind == "flag")
    assert (flag.user_id, flag.start_seconds, flag.text[:7]) == ("loud", 120, "you are")
    queue = fold(moderation_log()[2:], queue)
    assert [i.item_id for i in open_items(queue)] == [MILD]
    resolved = {i.item_id: i.resolution for i in queue.items if i.resolution} if queue else {}
    assert {k: (r.action, r.resolved_by) for k, r in resolved.items()} == {
        LOUD: ("mute", "host"),
        REPORT: ("remove", "host"),
    }


def test_the_first_resolution_stands_and_redelivery_changes_nothing() -> None:
    queue = fold([*room_log(), *moderation_log()])
    again = fold([*room_log(), *moderation_log()], queue)
    assert again == queue
    dismissed = event(e.FlagResolved, "cohost", 9, {"flag_id": LOUD, "action": "dismiss"})
    after = apply(queue, dismissed)
    assert after is not None
    assert next(i for i in after.items if i.item_id == LOUD).resolution.action == "mute"  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_interleaving_of_the_two_logs_gives_the_same_queue(rnd: object) -> None:
    logs = [room_log(), moderation_log()]
    queue: RoomQueue | None = None
    while any(logs):
        log = rnd.choice([log for log in logs if log])  # type: ignore[attr-defined]
        queue = apply(queue, log.pop(0))
    assert queue == fold([*room_log(), *moderation_log()])
