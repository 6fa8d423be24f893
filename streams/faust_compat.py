"""Every use of Faust's private API, in one place (written against faust-streaming 0.15.3).

Faust has no public way to do the things below; each is a small, named
reach into its internals, so that an upgrade breaks here and nowhere else.

- ``changelog_partition_of`` sets Faust's "current event": a table writes to
  the changelog partition of that event, and ``Stream.take_events`` sets none.
- ``LowLatencyTransport`` overrides private hooks of the aiokafka driver's
  consumer (``_new_consumer_thread``, ``_create_worker_consumer``,
  ``_highwaters``): Faust hard-codes a 1.5 s fetch wait, which against the
  embedded broker made every command a ~750 ms round trip (measured), and it
  trusts listed end offsets, which Tansu under-reports (``events.offsets``),
  so table recovery would stop short of a changelog's tail. The corrected
  offsets are probed on the servers the driver's ``server_list`` gives its own
  consumer. The app installs the transport through the public
  ``App.transport`` (``streams.app``).
"""

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import aiokafka
from faust.streams import _current_event
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from events.aiokafka_compat import set_fetch_max_wait
from events.offsets import true_end_offsets

FETCH_MAX_WAIT_MS = 10


@contextmanager
def changelog_partition_of(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's "current event" while a table key is written.

    A table writes each key to the changelog partition of the current event.
    ``Stream.take_events`` hands an agent several events at once and sets
    none, so the writer names the command that changed the room. The
    contextvar is local to the agent's task.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        set_fetch_max_wait(consumer, FETCH_MAX_WAIT_MS)
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """Table recovery reads changelogs up to these; see ``events.offsets``."""
        transport = cast(faust_aiokafka.Transport, self.transport)
        # the servers Faust gives its own consumer in ``_create_worker_consumer``
        servers = faust_aiokafka.server_list(transport.url, transport.default_port)
        ends = await true_end_offsets(servers, partitions)
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}


class LowLatencyConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)


class LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = LowLatencyConsumer
