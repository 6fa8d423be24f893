"""The relays this process knows of: ``stoa.relay-load`` followed from the beginning.

The topic is compacted and keyed by relay, so reading it whole gives every
relay's latest report; ``projections.placement`` decides from those.
"""

from datetime import datetime

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from projections import placement
from schemas.base import utcnow
from schemas.relay import RelayLoad
from schemas.topics import RELAY_LOAD

FETCH_WAIT_MS = 200
"""Reports come every half second and expire after one and a half: no need to poll harder."""


class RelayDirectory:
    def __init__(self, bootstrap: str, producer: LogProducer, name: str) -> None:
        self.reports: dict[str, RelayLoad] = {}
        self._placed: dict[str, int] = {}
        """Listeners this process sent to each relay since that relay's last report."""
        self._follower = TopicFollower(
            bootstrap,
            [RELAY_LOAD.name],
            self._on_record,
            producer,
            name,
            start="beginning",
            fetch_wait_ms=FETCH_WAIT_MS,
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def _on_record(self, record: RawRecord) -> None:
        report = RelayLoad.model_validate_json(record.value or b"")
        self.reports = placement.remember(self.reports, report)
        self._placed.pop(report.relay_id, None)

    def place(
        self,
        room_id: str,
        exclude: tuple[str, ...] = (),
        now: datetime | None = None,
        assign: bool = False,
    ) -> list[RelayLoad]:
        """Leaves for a listener of ``room_id``, best first; ``assign`` counts one on the best."""
        ranked = placement.place(
            self.reports.values(), room_id, now or utcnow(), exclude, self._placed
        )
        if assign and ranked:
            best = ranked[0].relay_id
            self._placed[best] = self._placed.get(best, 0) + 1
        return ranked

    def upstreams(self, configured: str, origin: str | None, me: str) -> list[str]:
        return placement.upstreams(self.reports.values(), configured, origin, utcnow(), me)
