"""The moderation queue of a room: automated flags and people's reports, folded (pure).

Two logs feed it: ``stoa.room-events`` (``ReportFiled``) and ``stoa.moderation``
(``SegmentFlagged``, ``FlagResolved``). A resolution may be read before the
item it resolves (another log, another order on a rebuild), so resolutions are
kept by item id and applied whenever the item shows up: the queue does not
depend on how the logs interleave, and every event applied twice changes nothing.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal
from uuid import UUID

from schemas import events as e
from schemas.base import WireModel

Action = Literal["dismiss", "mute", "remove", "end_room"]
QUEUE_EVENTS = (e.ReportFiled, e.SegmentFlagged, e.FlagResolved)
"""The events that change a queue; the agent skips the rest of the room's log cheaply."""


class Resolution(WireModel):
    action: Action
    resolved_by: str
    resolved_at: datetime


class QueueItem(WireModel):
    """One thing a moderator should look at: a flagged segment or a report."""

    item_id: UUID
    """The flag's id, or the report's."""
    kind: Literal["flag", "report"]
    room_id: str
    user_id: str | None
    """Whom it is about: the flagged speaker, or the reported user."""
    category: str
    """The policy category of a flag, or the reason a person gave."""
    score: float | None = None
    text: str = ""
    """The flagged words, or the reporter's note."""
    start_seconds: float | None = None
    end_seconds: float | None = None
    raised_by: str
    raised_at: datetime
    resolution: Resolution | None = None

    @property
    def open(self) -> bool:
        return self.resolution is None


class RoomQueue(WireModel):
    room_id: str
    items: tuple[QueueItem, ...] = ()
    """In the order they were raised."""
    early: dict[UUID, Resolution] = {}
    """Resolutions read before their item."""


def apply(queue: RoomQueue | None, event: e.Event) -> RoomQueue | None:
    """Fold one event (any other kind changes nothing)."""
    match event:
        case e.ReportFiled():
            d = event.data
            item = QueueItem(
                item_id=d.report_id, kind="report", room_id=event.room_id,
                user_id=d.target_user_id, category=d.reason, text=d.note or "",
                raised_by=event.actor_id, raised_at=event.occurred_at,
            )  # fmt: skip
            return _add(queue or RoomQueue(room_id=event.room_id), item)
        case e.SegmentFlagged():
            f = event.data
            item = QueueItem(
                item_id=f.flag_id, kind="flag", room_id=event.room_id, user_id=f.speaker_id,
                category=f.category, score=f.score, text=f.text,
                start_seconds=f.start_seconds, end_seconds=f.end_seconds,
                raised_by=event.actor_id, raised_at=event.occurred_at,
            )  # fmt: skip
            return _add(queue or RoomQueue(room_id=event.room_id), item)
        case e.FlagResolved():
            resolution = Resolution(
                action=event.data.action, resolved_by=event.actor_id, resolved_at=event.occurred_at
            )
            return _resolve(
                queue or RoomQueue(room_id=event.room_id), event.data.flag_id, resolution
            )
    return queue


def fold(events: Iterable[e.Event], queue: RoomQueue | None = None) -> RoomQueue | None:
    for event in events:
        queue = apply(queue, event)
    return queue


def open_items(queue: RoomQueue | None) -> list[QueueItem]:
    """What still needs a moderator: highest score first (reports count as certain),
    then oldest first."""
    if queue is None:
        return []
    waiting = [item for item in queue.items if item.open]
    return sorted(waiting, key=lambda i: (-(i.score if i.score is not None else 1.0), i.raised_at))


def _add(queue: RoomQueue, item: QueueItem) -> RoomQueue:
    if any(known.item_id == item.item_id for known in queue.items):
        return queue  # redelivered
    early = dict(queue.early)
    resolution = early.pop(item.item_id, None)
    if resolution is not None:
        item = item.model_copy(update={"resolution": resolution})
    items = tuple(sorted((*queue.items, item), key=lambda i: (i.raised_at, str(i.item_id))))
    return queue.model_copy(update={"items": items, "early": early})


def _resolve(queue: RoomQueue, item_id: UUID, resolution: Resolution) -> RoomQueue:
    items = list(queue.items)
    for index, item in enumerate(items):
        if item.item_id == item_id:
            if item.resolution is not None:
                return queue  # the first resolution stands
            items[index] = item.model_copy(update={"resolution": resolution})
            return queue.model_copy(update={"items": tuple(items)})
    if item_id in queue.early:
        return queue
    return queue.model_copy(update={"early": {**queue.early, item_id: resolution}})
