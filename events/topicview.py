"""A view of compacted topics kept in memory by following them from the start: the shape
every read model of the gateway and the media nodes shares."""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer

WRITE_SEEN_SECONDS = 5.0
"""How long a route waits for its own write to come back through the log to this view."""


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
        self._news = asyncio.Event()
        self._waiting = 0
        self._follower = TopicFollower(
            bootstrap,
            topics,
            self._take,
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

    async def until(self, holds: Callable[[], bool], timeout: float = WRITE_SEEN_SECONDS) -> bool:
        """Whether ``holds()`` became true within ``timeout`` seconds, checked on each record.

        A route's write reaches a view after the log's hops (the room's event, then maybe a
        worker's projection), so a route that must answer with what it just did waits here:
        the caller's next read then agrees with the answer (a new clip plays, not a 404)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting += 1
        try:
            while not holds():
                await asyncio.wait_for(self._news.wait(), deadline - loop.time())
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1
        return True

    def _take(self, record: RawRecord) -> None:
        self._on_record(record)
        if self._waiting:  # every record of the busiest views passes here: no news unasked
            news, self._news = self._news, asyncio.Event()
            news.set()

    @abstractmethod
    def _on_record(self, record: RawRecord) -> None:
        """Apply one record of the followed topics."""
