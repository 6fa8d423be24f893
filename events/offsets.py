"""End offsets that are true on Tansu as well as on Kafka.

Tansu 0.6 (the embedded broker) answers ListOffsets(latest) with the base
offset of a partition's last record batch plus one, so the tail of a
multi-record batch is invisible to anyone reading "up to the end" — Faust's
table recovery included, which would then resume a room from a stale state.
The high watermark in a Fetch response is right, so a short probe fetch
corrects the listed value. On Kafka the two agree and the probe changes nothing.
"""

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition


async def true_end_offsets(
    bootstrap: str | list[str], partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]  # Faust passes its own TP
    if not tps:
        return {}
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        client_id="stoa-offset-probe",
    )
    await probe.start()
    try:
        probe.assign(tps)
        listed: dict[TopicPartition, int] = await probe.end_offsets(tps)
        for tp in tps:
            probe.seek(tp, max(0, listed[tp] - 1))
        pending = {tp for tp in tps if listed[tp] > 0}
        for _ in range(10):
            if not pending:
                break
            await probe.getmany(*pending, timeout_ms=100, max_records=1)
            pending = {tp for tp in pending if probe.highwater(tp) is None}
        return {tp: max(listed[tp], probe.highwater(tp) or 0) for tp in tps}
    finally:
        await probe.stop()
