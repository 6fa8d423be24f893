"""Every use of aiokafka's private API, in one place (written against aiokafka 0.14.0).

aiokafka has no public way to do the things below; each is a small, named
reach into its internals, so that an upgrade breaks here and nowhere else.
"""

from aiokafka import AIOKafkaConsumer


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Ask the broker about every topic now and wait for the answer.

    A consumer that assigns partitions itself bootstraps with an empty topic
    list (a v1+ Metadata request for no topics), so ``partitions_for_topic``
    knows nothing until its client's next refresh; the consumer offers no
    public way to ask for one.
    """
    await consumer._client.force_metadata_update()


def set_fetch_max_wait(consumer: AIOKafkaConsumer, ms: int) -> None:
    """Change how long a fetch waits for data, on a consumer built by someone else.

    Faust's aiokafka driver builds its worker consumer with a hard-coded
    ``fetch_max_wait_ms=1500`` (see ``streams.faust_compat``). The consumer
    reads the attribute when it starts, so this must run before ``start()``.
    """
    consumer._fetch_max_wait_ms = ms
