"""Delivery tiers: how a room's audio reaches its audience as the audience grows.

* ``direct``: listeners connect to the mixing node itself (small rooms);
* ``relay``: passive listeners go through the relay tree;
* ``hls``: passive listeners get short-segment HLS (a CDN can carry it).

People on stage (host, co-hosts, speakers) and listeners with a raised hand
stay on the mixing node in every tier: they may be talking, or about to, and
only the mixing node gives a speaker the mix without their own voice. The
tier follows the listener count with hysteresis, so a room hovering at a
threshold does not move its audience back and forth.
"""

from dataclasses import dataclass
from typing import Literal

from schemas.room import STAGE_ROLES, Role

Tier = Literal["direct", "relay", "hls"]
Path = Literal["origin", "relay", "hls"]
RANK: dict[Tier, int] = {"direct": 0, "relay": 1, "hls": 2}


@dataclass(frozen=True)
class Thresholds:
    relay_at: int = 100
    """Listeners from which passive listeners go through relays."""
    hls_at: int = 1000
    """Listeners from which passive listeners get HLS."""
    hysteresis: float = 0.8
    """A room leaves a tier only once its audience falls below this share of its threshold."""


DEFAULT_THRESHOLDS = Thresholds()


def next_tier(current: Tier, listeners: int, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Tier:
    """The room's tier after its listener count became ``listeners``."""
    if listeners >= thresholds.hls_at:
        return "hls"
    if current == "hls" and listeners >= thresholds.hls_at * thresholds.hysteresis:
        return "hls"
    if listeners >= thresholds.relay_at:
        return "relay"
    if current in ("relay", "hls") and listeners >= thresholds.relay_at * thresholds.hysteresis:
        return "relay"
    return "direct"


def path_for(tier: Tier, role: Role, hand_raised: bool) -> Path:
    """Which path a person should listen on in a room of ``tier``."""
    if tier == "direct" or role in STAGE_ROLES or hand_raised:
        return "origin"
    return "relay" if tier == "relay" else "hls"
