"""Listener presence travels in batches from edge nodes.

50,000 listeners joining a room must not become 50,000 round trips through the
room's single writer, so edges (the gateway today, relays later) group joins and
leaves per room and number each batch. ``(edge_id, batch_seq)`` lets the folding
agent ignore a batch it has already counted after a redelivery.
"""

import uuid
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.base import RoomId, UtcDatetime, WireModel, utcnow
from schemas.events import ListenerJoined, ListenerLeft, UserData


def presence_event(
    room_id: str, user_id: str, joined: bool, at: datetime | None = None
) -> ListenerJoined | ListenerLeft:
    """A listener's own join or leave (the listener is the actor)."""
    cls = ListenerJoined if joined else ListenerLeft
    return cls(
        event_id=uuid.uuid4(),
        room_id=room_id,
        actor_id=user_id,
        occurred_at=at or utcnow(),
        data=UserData(user_id=user_id),
    )


class PresenceBatch(WireModel):
    type: Literal["PresenceBatch"] = "PresenceBatch"
    batch_id: UUID
    edge_id: str = Field(min_length=1, max_length=64)
    batch_seq: int = Field(ge=1)
    room_id: RoomId
    events: tuple[ListenerJoined | ListenerLeft, ...] = Field(min_length=1, max_length=5000)


class PresenceCounts(WireModel):
    """What ``stoa.presence-counts`` carries: the room's audience size right now."""

    room_id: RoomId
    listener_count: int = Field(ge=0)
    peak_listeners: int = Field(ge=0)
    tier: Literal["direct", "relay", "hls"] = "direct"
    """The room's delivery tier (``projections.tiers``), decided with the count."""
    updated_at: UtcDatetime
