"""Archive: sink throughput into chDB on one core, event-to-queryable lag, restore rate.

1. Throughput: 200,000 events wait on the log; the archiver starts pinned to one
   CPU (the broker on the other). The rate is the archiver's own: from its
   first fetch to its last commit (joining the consumer group takes a few
   seconds first, reported apart), and per CPU-second of the process from the
   moment it answers queries until every event is queryable.
2. Lag: with the archiver caught up, 2,000 events/s for 15 s on one partition;
   a poller asks "how many are queryable" every 20 ms, and each event's lag is
   the first poll that saw it minus its send time.
3. Restore: the archive (about 230,000 records) is republished into a fresh,
   empty broker, as ``stoa up`` does after a restart.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.cpu import cpu_seconds
from bench.stats import percentile
from events.admin import ensure_topics
from events.archive import restore as archive_restore
from events.archive.migrations import migrate
from events.archive.remote import RemoteArchive
from events.archive.store import ClickHouseArchive, connect
from infra.addresses import chdb_dir
from infra.broker import EmbeddedBroker
from infra.localstack import Stack, stoa_env
from infra.settings import Settings
from schemas import events as e

PARTITIONS = 4


def _payloads(count: int, room_of: Any) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        room = room_of(i)
        event = e.HandRaised(
            event_id=uuid.uuid4(),
            room_id=room,
            actor_id=f"u{i}",
            seq=i + 1,
            occurred_at=now,
            data=e.UserData(user_id=f"u{i}"),
        )
        out.append((room, event.model_dump_json().encode()))
    return out


async def _produce(bootstrap: str, payloads: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=20,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        futures = [await producer.send("stoa.room-events", v, key=k.encode()) for k, v in payloads]
        for future in futures:
            await future
    finally:
        await producer.stop()


def _count(archive: RemoteArchive, where: str = "1") -> int:
    return int(archive.query(f"SELECT count() FROM stoa.events WHERE {where}").rows[0][0])


def _throughput(stack: Stack, total: int) -> tuple[RemoteArchive, dict[str, Any]]:
    payloads = _payloads(total, lambda i: f"room-{i % 500}")
    asyncio.run(_produce(stack.broker.bootstrap, payloads))
    archiver = subprocess.Popen(  # pinned from birth, so chDB's threads share the one core
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-m",
            "streams.archiver",
            "--bootstrap",
            stack.broker.bootstrap,
        ],
        env=stoa_env(stack.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.processes.append(archiver)
    url = stack.archive_url()
    archive = RemoteArchive(url)
    started, start_cpu = time.perf_counter(), cpu_seconds(archiver.pid)
    seen: dict[str, Any] = {"archived": 0}
    while seen["archived"] < total:  # the archiver's own count of inserted-and-committed records
        time.sleep(0.02)
        seen = httpx.get(f"{url}/healthz").json()
    assert _count(archive) >= total
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(archiver.pid) - start_cpu
    done = total
    sinking = seen["last_commit_at"] - seen["first_fetch_at"]
    return archive, {
        "sink_events": done,
        "sink_startup_s": round(elapsed - sinking, 2),
        "sink_events_per_s": round(done / sinking),
        "sink_events_per_s_with_startup": round(done / elapsed),
        "sink_events_per_cpu_s": round(done / max(cpu, 1e-9)),
        "sink_archiver_cpu_share": round(cpu / elapsed, 2),
    }


def _lag(stack: Stack, archive: RemoteArchive, rate: int, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    payloads = _payloads(count, lambda i: "lag-room")
    sent_at: list[float] = [0.0] * count
    seen_at: list[float] = [0.0] * count

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=stack.broker.bootstrap, acks="all", enable_idempotence=False
        )
        await producer.start()
        started = time.perf_counter()
        for i, (key, value) in enumerate(payloads):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[i] = time.perf_counter()
            await producer.send("stoa.room-events", value, key=key.encode())
        await producer.flush()
        await producer.stop()

    done = threading.Event()

    def poll() -> None:
        marked = 0
        while marked < count:
            visible = _count(archive, "room_id = 'lag-room'")
            now = time.perf_counter()
            for i in range(marked, min(visible, count)):
                seen_at[i] = now
            marked = max(marked, min(visible, count))
            time.sleep(0.02)
        done.set()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    asyncio.run(produce())
    done.wait(timeout=60)
    lags = [(s - t) * 1000 for s, t in zip(seen_at, sent_at, strict=True) if s > 0]
    return {
        "lag_events": len(lags),
        "lag_rate_per_s": rate,
        "lag_p50_ms": round(percentile(lags, 50), 1),
        "lag_p99_ms": round(percentile(lags, 99), 1),
        "lag_max_ms": round(max(lags), 1),
    }


def _restore(data_dir: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir)
    client = connect(settings.clickhouse_url, chdb_dir(settings))
    migrate(client)
    archive = ClickHouseArchive(client)
    plan = archive_restore.plan(archive)
    broker = EmbeddedBroker().start()
    try:
        started = time.perf_counter()
        sent = asyncio.run(archive_restore.restore(archive, broker.bootstrap, PARTITIONS, plan))
        elapsed = time.perf_counter() - started
    finally:
        broker.stop()
        client.close()
    return {"restore_records": sent, "restore_per_s": round(sent / elapsed)}


def run(quick: bool = False) -> dict[str, Any]:
    total = 50_000 if quick else 200_000
    with tempfile.TemporaryDirectory(prefix="stoa-bench-archive-") as tmp:
        stack = Stack(data_dir=Path(tmp)).start_broker()
        if stack.broker.pid:
            os.sched_setaffinity(stack.broker.pid, {1})
        try:
            asyncio.run(ensure_topics(stack.broker.bootstrap, PARTITIONS))
            archive, figures = _throughput(stack, total)
            figures |= _lag(stack, archive, rate=2000, seconds=5 if quick else 15)
        finally:
            stack.stop()
        figures |= _restore(Path(tmp))
    return figures
