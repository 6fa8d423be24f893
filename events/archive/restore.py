"""Restore: an empty broker gets its log back from the archive.

The embedded Tansu broker keeps topics in memory, so after a restart the
archive is the only copy. Every archived record is republished to the same
topic and partition, in its original offset order, with its exact key, bytes
and timestamp; ``event_id`` and ``seq`` live in those bytes, so they are kept.
The worker's table changelogs are restored too, so the room writer resumes
each room at its last ``seq`` instead of starting it over.

``stoa.commands`` is not republished: commands are requests, already decided
(their outcomes are in ``stoa.room-events`` and ``stoa.command-results``), and
replaying them into a writer would decide them a second time.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events.admin import ensure_topics
from events.archive.store import ClickHouseArchive
from events.offsets import true_end_offsets
from events.partitions import partitions_of
from events.producer import producer_options
from schemas.topics import ALL_TOPICS, COMMANDS, TopicSpec

SKIPPED = (COMMANDS.name,)
ARCHIVER_GROUP = "stoa-archiver"

Progress = Callable[[int], None]


@dataclass
class RestorePlan:
    """How many records each archived partition holds (commands excluded)."""

    partitions: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.partitions.values())

    @property
    def topics(self) -> list[str]:
        return sorted({topic for topic, _ in self.partitions})


def plan(archive: ClickHouseArchive) -> RestorePlan:
    result = archive.query(
        "SELECT topic, partition, count() FROM stoa.events FINAL "
        "WHERE record = 1 AND topic NOT IN {skipped:Array(String)} "
        "GROUP BY topic, partition ORDER BY topic, partition",
        {"skipped": list(SKIPPED)},
    )
    return RestorePlan({(str(t), int(p)): int(n) for t, p, n in result.rows})


async def broker_is_empty(bootstrap: str) -> bool:
    """No record on any Stoa topic: a fresh embedded broker (or a brand-new cluster)."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="stoa-restore-probe")
    await probe.start()
    try:
        tps = await partitions_of(probe, [spec.name for spec in ALL_TOPICS])
    finally:
        await probe.stop()
    ends = await true_end_offsets(bootstrap, tps)
    return all(end == 0 for end in ends.values())


async def restore(
    archive: ClickHouseArchive,
    bootstrap: str,
    partitions: int,
    restore_plan: RestorePlan,
    progress: Progress = lambda n: None,
) -> int:
    """Republish the plan's records; returns how many were republished."""
    known = {spec.name for spec in ALL_TOPICS}
    extra = tuple(
        TopicSpec(name, "table key", compacted=True)
        for name in restore_plan.topics
        if name not in known
    )
    await ensure_topics(bootstrap, partitions, ALL_TOPICS + extra)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="stoa-restore",
        **{**producer_options(), "linger_ms": 5, "max_batch_size": 1024 * 1024},
    )
    await producer.start()
    sent = 0
    try:
        for topic, partition in restore_plan.partitions:
            with archive.raw_blocks(
                "SELECT key, payload, toUnixTimestamp64Milli(produced_at) "
                "FROM stoa.events FINAL WHERE record = 1 AND topic = {t:String} "
                "AND partition = {p:UInt32} ORDER BY offset",
                {"t": topic, "p": partition},
            ) as blocks:
                for block in blocks:
                    futures = [
                        await producer.send(
                            topic,
                            payload,
                            key=key or None,
                            partition=partition if partition < partitions else None,
                            timestamp_ms=int(stamp),
                        )
                        for key, payload, stamp in block
                    ]
                    for future in futures:
                        await future
                    sent += len(block)
                    progress(len(block))
    finally:
        await producer.stop()
    await mark_archived(bootstrap, restore_plan.topics)
    return sent


async def mark_archived(bootstrap: str, topics: list[str]) -> None:
    """Commit the archiver's offsets past the restored records: they are archived already."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=ARCHIVER_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topics)
        ends = await true_end_offsets(bootstrap, tps)
        offsets = {tp: end for tp, end in ends.items() if end > 0}
        if offsets:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
    finally:
        await consumer.stop()
