"""Following topics outside a consumer group, with the dead-letter rule applied.

The gateway reads command results and the room-state projection on every
partition (each gateway instance needs all of them), so it assigns partitions
itself instead of joining a group.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from events.deadletter import TOPIC as DEAD_LETTER_TOPIC
from events.deadletter import RawRecord, dead_letter
from events.offsets import true_end_offsets
from events.partitions import partitions_of
from events.producer import LogProducer
from schemas.codec import UndecodableMessage

log = logging.getLogger("stoa.events")

Handler = Callable[[RawRecord], Awaitable[None] | None]


class TopicFollower:
    """Calls ``handler`` for each record of ``topics``; undecodable ones are dead-lettered."""

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        handler: Handler,
        producer: LogProducer,
        name: str,
        start: Literal["beginning", "end"] = "end",
        fetch_wait_ms: int = 10,
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._handler = handler
        self._producer = producer
        self._name = name
        self._start = start
        self._fetch_wait_ms = fetch_wait_ms
        """How long a fetch waits for news. Tansu waits the whole time even when records come,
        so this is also the follower's added latency (half of it on average); a short wait costs
        the broker a fetch every few milliseconds per follower."""
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()
        """Set once everything present at start has been handled."""

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            client_id=f"{self._name}-{uuid.uuid4().hex[:6]}",
            fetch_max_wait_ms=self._fetch_wait_ms,
        )
        await consumer.start()
        tps = await partitions_of(consumer, self._topics)
        consumer.assign(tps)
        if self._start == "beginning":
            await consumer.seek_to_beginning(*tps)
            ends = await true_end_offsets(self._bootstrap, tps)
            self._targets = {tp: end for tp, end in ends.items() if end > 0}
        else:
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)  # resolve now, so later records are not skipped
            self._targets = {}
        if not self._targets:
            self.caught_up.set()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except asyncio.CancelledError:
                raise
            except Exception:  # broker hiccup: keep following instead of dying
                log.exception("%s: fetch failed; retrying", self._name)
                await asyncio.sleep(0.5)
                continue
            for tp, records in batch.items():
                for r in records:
                    await self._handle(RawRecord.of(r))
                if records and tp in self._targets and records[-1].offset + 1 >= self._targets[tp]:
                    del self._targets[tp]
            if not self._targets:
                self.caught_up.set()

    async def _handle(self, record: RawRecord) -> None:
        try:
            outcome = self._handler(record)
            if outcome is not None:
                await outcome
        except (UndecodableMessage, ValidationError, UnicodeDecodeError) as exc:
            error = (
                str(exc).splitlines()[0]
                if isinstance(exc, UndecodableMessage)
                else (" ".join(str(exc).split())[:500])
            )
            log.warning(
                "%s: dead-lettering %s@%d: %s", self._name, record.topic, record.offset, error
            )
            letter = dead_letter(record, error, self._name)
            await self._producer.send(DEAD_LETTER_TOPIC, letter.key, letter)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
