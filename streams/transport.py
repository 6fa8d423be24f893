"""A Faust transport tuned for the embedded broker, correct on Kafka too.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``; against Tansu
that turned every command into a ~750 ms round trip (measured), so the
consumer fetches with a short wait. Its end offsets are corrected as described
in ``events.offsets``. The app swaps this transport in (``StoaApp``).
"""

from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from events.offsets import true_end_offsets

FETCH_MAX_WAIT_MS = 10


class LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """Table recovery reads changelogs up to these; see ``events.offsets``."""
        consumer = self._ensure_consumer()
        ends = await true_end_offsets(consumer._client._bootstrap_servers, partitions)
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}


class LowLatencyConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)


class LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = LowLatencyConsumer
