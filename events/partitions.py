"""A topic's partitions, for readers that assign partitions themselves.

What a consumer knows of the cluster when it starts may name no topic at all
(aiokafka's bootstrap request asks about none, and Kafka answers just that) or
predate a topic created since, so the lookup refreshes the metadata first; one
refresh answers for every topic, and a topic still without partitions does not
exist.
"""

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.aiokafka_compat import refresh_metadata


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, in topic order then partition order.

    The refresh is unconditional, even when the consumer already knows the
    topics: it also lets a just-started consumer's background task run before
    anything stops the consumer, which aiokafka 0.14 otherwise answers with a
    ``CancelledError`` (``restore.broker_is_empty`` looks up and stops at once).
    """
    await refresh_metadata(consumer)
    return [
        TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
