"""Listener counts from batched presence, folded beside (not through) the command path.

Membership is looked up per user through ``is_member`` instead of being held in
the state value, so a room with 50,000 listeners does not rewrite a 50,000-entry
set on every batch; the agent keeps one small record per (room, user).
"""

from collections.abc import Callable
from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from pydantic import Field

from projections.tiers import Thresholds, Tier, next_tier
from schemas import events as e
from schemas.base import WireModel
from schemas.presence import PresenceBatch

TIER_ACTOR = "stoa-presence"
"""``actor_id`` of tier changes: nobody asked for them, the audience's size did."""

MemberLookup = Callable[[str], bool]
MembershipChanges = dict[str, bool]


class PresenceState(WireModel):
    room_id: str
    listener_count: int = Field(default=0, ge=0)
    peak_listeners: int = Field(default=0, ge=0)
    closed: bool = False
    edge_marks: dict[str, int] = Field(default_factory=dict)
    """Last batch_seq counted per edge: a redelivered batch is recognised and skipped.

    An edge numbers its batches per room and they share the room's partition, so
    they arrive in order; anything at or below the mark was counted already."""
    removed_ids: tuple[str, ...] = ()
    """Removed users never count again, even if a join raced their removal."""
    tier: Tier = "direct"
    """How the room's audio reaches passive listeners (``projections.tiers``)."""
    tier_changes: int = Field(default=0, ge=0)


def fold_batch(
    state: PresenceState, batch: PresenceBatch, is_member: MemberLookup
) -> tuple[PresenceState, MembershipChanges]:
    """Count distinct listeners: a second join or a leave without a join changes nothing."""
    if batch.batch_seq <= state.edge_marks.get(batch.edge_id, 0):
        return state, {}
    changes: MembershipChanges = {}
    count, peak = state.listener_count, state.peak_listeners
    if not state.closed:
        for event in batch.events:
            user = event.data.user_id
            present = changes[user] if user in changes else is_member(user)
            joined = isinstance(event, e.ListenerJoined)
            if joined == present or (joined and user in state.removed_ids):
                continue
            changes[user] = joined
            count += 1 if joined else -1
            peak = max(peak, count)
    marks = {**state.edge_marks, batch.edge_id: batch.batch_seq}
    return (
        state.model_copy(
            update={"listener_count": count, "peak_listeners": peak, "edge_marks": marks}
        ),
        changes,
    )


def fold_room_event(
    state: PresenceState, event: e.Event, is_member: MemberLookup
) -> tuple[PresenceState, MembershipChanges]:
    """A removed user stops counting at once; an ended room has no audience left.

    After the end, membership records are left as they are: the room is closed
    and ignores every later batch, so they can no longer change a count.
    """
    if isinstance(event, e.ParticipantRemoved) and not state.closed:
        user = event.data.user_id
        if user in state.removed_ids:
            return state, {}
        removed = (*state.removed_ids, user)
        if is_member(user):
            count = state.listener_count - 1
            return state.model_copy(update={"listener_count": count, "removed_ids": removed}), {
                user: False
            }
        return state.model_copy(update={"removed_ids": removed}), {}
    if isinstance(event, e.RoomEnded) and not state.closed:
        return state.model_copy(update={"listener_count": 0, "closed": True}), {}
    return state, {}


def follow_tier(
    state: PresenceState, thresholds: Thresholds, at: datetime
) -> tuple[PresenceState, e.DistributionTierChanged | None]:
    """Move the room's delivery tier after its count changed, and the event saying so.

    The event's id counts the room's tier changes, so folding the same input
    again (a redelivery) yields the same event, which consumers drop by id.
    An ended room keeps its last tier: nobody is left to move.
    """
    if state.closed:
        return state, None
    tier = next_tier(state.tier, state.listener_count, thresholds)
    if tier == state.tier:
        return state, None
    changes = state.tier_changes + 1
    event = e.DistributionTierChanged(
        event_id=uuid5(NAMESPACE_URL, f"stoa:{state.room_id}:tier:{changes}"),
        room_id=state.room_id,
        actor_id=TIER_ACTOR,
        occurred_at=at,
        data=e.DistributionTierChangedData(tier=tier, listener_count=state.listener_count),
    )
    return state.model_copy(update={"tier": tier, "tier_changes": changes}), event
