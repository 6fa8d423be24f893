"""Where a listener or a relay should connect: a fold of the relays' load reports.

Pure: the gateway (placing a listener at join), the mixing node and relays
(moving listeners, finding a new upstream after a relay died) all call these
with the reports they follow on ``stoa.relay-load`` and the time now.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from schemas.relay import RELAY_EXPIRY_SECONDS, RelayLoad


def remember(known: Mapping[str, RelayLoad], report: RelayLoad) -> dict[str, RelayLoad]:
    """The newest report per relay (a relay that said it is gone is forgotten)."""
    newest = dict(known)
    previous = newest.get(report.relay_id)
    if previous is not None and previous.reported_at > report.reported_at:
        return newest
    if report.state == "gone":
        newest.pop(report.relay_id, None)
    else:
        newest[report.relay_id] = report
    return newest


def alive(
    reports: Iterable[RelayLoad], now: datetime, expiry: float = RELAY_EXPIRY_SECONDS
) -> list[RelayLoad]:
    """Relays that reported recently enough to be trusted with a listener."""
    cutoff = now - timedelta(seconds=expiry)
    return [r for r in reports if r.state == "up" and r.reported_at >= cutoff]


def leaves(relays: Iterable[RelayLoad]) -> list[RelayLoad]:
    """Relays no other relay subscribes to: the tree's edge, where listeners go."""
    relays = list(relays)
    parents = {r.upstream.rstrip("/") for r in relays}
    return [r for r in relays if r.url.rstrip("/") not in parents]


def load(relay: RelayLoad, extra: int = 0) -> float:
    return (relay.listeners + extra) / relay.capacity


def place(
    reports: Iterable[RelayLoad],
    room_id: str,
    now: datetime,
    exclude: Iterable[str] = (),
    placed: Mapping[str, int] | None = None,
) -> list[RelayLoad]:
    """The leaves a listener of ``room_id`` may use, best first.

    A leaf that already carries the room comes before one that would have to
    open it (one more upstream subscription), unless it is full; then the
    least loaded first. ``exclude`` names URLs that just failed; ``placed``
    counts listeners sent to each relay since its last report, so a burst of
    placements spreads instead of piling onto the relay that looked emptiest.
    """
    skip = {u.rstrip("/") for u in exclude}
    candidates = [r for r in leaves(alive(reports, now)) if r.url.rstrip("/") not in skip]
    placed = placed or {}

    def rank(relay: RelayLoad) -> tuple[bool, bool, float, str]:
        extra = placed.get(relay.relay_id, 0)
        full = relay.listeners + extra >= relay.capacity
        return (full, room_id not in relay.rooms, load(relay, extra), relay.relay_id)

    return sorted(candidates, key=rank)


def upstreams(
    reports: Iterable[RelayLoad], configured: str, origin: str | None, now: datetime, me: str
) -> list[str]:
    """Where a relay subscribes, in order: its configured upstream, that upstream's
    siblings (relays at the same level), then the mixing node itself."""
    configured = configured.rstrip("/")
    relays = alive(reports, now)
    by_url = {r.url.rstrip("/"): r for r in relays}
    parent = by_url.get(configured)
    siblings = sorted(
        (r for r in relays if parent is not None and r.upstream == parent.upstream),
        key=load,
    )
    ordered = [configured, *(r.url.rstrip("/") for r in siblings)]
    if origin:
        ordered.append(origin.rstrip("/"))
    seen: list[str] = []
    for url in ordered:
        if url not in seen and url != me.rstrip("/"):
            seen.append(url)
    return seen
