"""What a relay tells the log about itself: where it is, what it carries, how full it is.

Placement (``projections.placement``) is a fold of these reports, so any
gateway or relay can place a listener or find a new upstream without a
registry in one process's memory. A relay reports every
``RELAY_REPORT_SECONDS``; a report older than ``RELAY_EXPIRY_SECONDS`` means
the relay is gone (a clean stop also says so, with ``state="gone"``).
"""

from typing import Final, Literal

from pydantic import Field

from schemas.base import RoomId, UtcDatetime, WireModel

RELAY_REPORT_SECONDS: Final = 0.5
RELAY_EXPIRY_SECONDS: Final = 1.5


class RelayLoad(WireModel):
    type: Literal["RelayLoad"] = "RelayLoad"
    relay_id: str = Field(min_length=1, max_length=128)
    url: str = Field(description="base URL children and listeners connect to (http or https)")
    upstream: str = Field(description="base URL of the node this relay subscribes to")
    listeners: int = Field(ge=0, description="people connected here")
    relays: int = Field(default=0, ge=0, description="child relays connected here")
    capacity: int = Field(ge=1, description="listeners this relay is meant to carry")
    rooms: tuple[RoomId, ...] = ()
    state: Literal["up", "gone"] = "up"
    reported_at: UtcDatetime
