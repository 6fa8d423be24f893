"""A view of compacted topics kept in memory by following them from the start: the shape
every read model of the gateway and the media nodes shares."""

from abc import ABC, abstractmethod

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer


class TopicView(ABC):
    """Follow ``topics`` from the beginning; each record goes to ``_on_record``."""

    def __init__(
        self,
        bootstrap: str,
        producer: LogProducer,
        topics: list[str],
        group: str,
        fetch_wait_ms: int = 10,
    ) -> None:
        self._follower = TopicFollower(
            bootstrap,
            topics,
            self._on_record,
            producer,
            group,
            start="beginning",
            fetch_wait_ms=fetch_wait_ms,
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    @property
    def caught_up(self) -> bool:
        return self._follower.caught_up.is_set()

    async def wait_caught_up(self) -> None:
        await self._follower.caught_up.wait()

    @abstractmethod
    def _on_record(self, record: RawRecord) -> None:
        """Apply one record of the followed topics."""
