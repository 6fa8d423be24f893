"""A plain aiokafka client, independent of Stoa's own consumer and producer code.

(Only the end offsets come from ``events.offsets``, as Tansu under-reports them, and the
metadata refresh from ``events.aiokafka_compat``, the one home of aiokafka internals.)

Debian's kcat would be the more independent choice, but librdkafka's
ApiVersionRequest fails against the embedded Tansu 0.6.0 ("Read underflow"),
so the tests read and write the log with bare aiokafka calls instead.
"""

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events.aiokafka_compat import refresh_metadata
from events.offsets import true_end_offsets


async def _consume(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        await refresh_metadata(consumer)
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await true_end_offsets(bootstrap, tps)
        out: list[dict[str, Any]] = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < ends[tp]:
                        out.append(
                            {
                                "partition": record.partition,
                                "offset": record.offset,
                                "key": record.key.decode() if record.key is not None else None,
                                "payload": record.value,
                            }
                        )
        return out
    finally:
        await consumer.stop()


def consume(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record on ``topic`` from the beginning to the end offsets at call time."""
    return asyncio.run(_consume(bootstrap, topic))


def consume_json(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r["payload"]) for r in consume(bootstrap, topic)]


async def _produce(bootstrap: str, topic: str, key: str, payload: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=key.encode())
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, key: str, payload: bytes) -> None:
    asyncio.run(_produce(bootstrap, topic, key, payload))
