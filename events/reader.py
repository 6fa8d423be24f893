"""Reading a topic from the beginning to its current end (replay, tools, tests)."""

import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer

from events.deadletter import RawRecord
from events.offsets import true_end_offsets
from events.partitions import partitions_of


async def read_all(
    bootstrap: str, topic: str, idle_timeout_ms: int = 500
) -> AsyncIterator[RawRecord]:
    """Yield every record on ``topic`` up to the end offsets seen at the start, per partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"stoa-reader-{uuid.uuid4().hex[:8]}",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        tps = await partitions_of(consumer, [topic])
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await true_end_offsets(bootstrap, tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        idle_rounds = 0
        while remaining and idle_rounds < 20:
            batch = await consumer.getmany(*remaining, timeout_ms=idle_timeout_ms)
            if not batch:
                idle_rounds += 1  # a gap (compaction, deleted records) must not spin forever
                positions = {tp: await consumer.position(tp) for tp in remaining}
                remaining = {tp for tp in remaining if positions[tp] < ends[tp]}
                continue
            idle_rounds = 0
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        yield RawRecord.of(r)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
