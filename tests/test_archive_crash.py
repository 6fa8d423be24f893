"""The archiver SIGKILLed five times while 20,000 events arrive: each event archived once.

Besides the redeliveries the kills cause, the first 1,000 events are appended a
second time at new offsets (a producer retrying), so deduplication by
``event_id`` is exercised whatever the kills happened to hit.
"""

import asyncio
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from events.admin import ensure_topics
from events.archive.remote import RemoteArchive
from events.offsets import true_end_offsets
from infra.localstack import Stack
from schemas import events as e
from tests.archive_log import Record, produce_all

pytestmark = pytest.mark.slow
TOTAL, ROOMS, CHUNKS = 20_000, 50, 40


def events() -> list[Record]:
    now = datetime.now(UTC)
    out: list[Record] = []
    for i in range(TOTAL):
        room = f"crash-{i % ROOMS}"
        event = e.HandRaised(
            event_id=uuid.uuid4(),
            room_id=room,
            actor_id=f"u{i}",
            seq=i // ROOMS + 1,
            occurred_at=now,
            data=e.UserData(user_id=f"u{i}"),
        )
        out.append(("stoa.room-events", room, event.model_dump_json().encode()))
    return out


def end_offsets(bootstrap: str) -> dict[int, int]:
    tps = [TopicPartition("stoa.room-events", p) for p in range(4)]
    ends = asyncio.run(true_end_offsets(bootstrap, tps))
    return {tp.partition: end for tp, end in ends.items() if end > 0}


def test_sigkill_five_times_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path).start_broker()
    try:
        asyncio.run(ensure_topics(stack.broker.bootstrap, 4))
        archiver = stack.start_archiver()
        archive = RemoteArchive(stack.archive_url())
        records = events()
        size = TOTAL // CHUNKS

        def produce() -> None:
            for start in range(0, TOTAL, size):
                produce_all(stack.broker.bootstrap, records[start : start + size])
                time.sleep(0.25)

        producer = threading.Thread(target=produce)
        producer.start()
        kills = 0
        while kills < 5:
            time.sleep(1.5)
            archiver.send_signal(signal.SIGKILL)
            archiver.wait()
            kills += 1
            archiver = stack.start_archiver()
            archive = RemoteArchive(stack.archive_url())
        producer.join()
        produce_all(stack.broker.bootstrap, records[:1000])  # a producer's retries, at new offsets

        query = (
            "SELECT count(), uniqExact(event_id) FROM stoa.events FINAL "
            "WHERE topic = 'stoa.room-events'"
        )
        ends = end_offsets(stack.broker.bootstrap)
        progress = (
            "SELECT partition, max(offset) + 1 FROM stoa.events "
            "WHERE topic = 'stoa.room-events' GROUP BY partition"
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if dict(archive.query(progress).rows) == ends:
                break
            time.sleep(0.5)
        count, unique = archive.query(query).rows[0]
        assert (count, unique) == (TOTAL, TOTAL)
        per_id = archive.query(
            "SELECT max(n) FROM (SELECT event_id, count() AS n FROM stoa.events FINAL "
            "GROUP BY event_id)"
        ).rows[0][0]
        assert per_id == 1
        seqs = archive.query(
            "SELECT min(c), max(c) FROM (SELECT room_id, uniqExact(seq) AS c FROM stoa.events "
            "FINAL WHERE topic = 'stoa.room-events' GROUP BY room_id)"
        ).rows[0]
        assert tuple(seqs) == (TOTAL // ROOMS, TOTAL // ROOMS)
    finally:
        stack.stop()
