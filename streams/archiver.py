"""The archive sink: every record of every Stoa topic into ``stoa.events``.

Run as its own process (``python -m streams.archiver``) because embedded chDB
admits one process per directory; it also answers queries for the other
processes on a loopback endpoint.

It is a plain aiokafka consumer group rather than a Faust agent: the sink
needs no table, and "commit only after the insert succeeded" is then a line of
code instead of a property of Faust's acking, at a fraction of Faust's
per-event cost (the throughput target is 50,000 events/s on one core).
Redelivery after a crash re-inserts rows the table already has; the
ReplacingMergeTree collapses them by id.
"""

import argparse
import asyncio
import contextlib
import functools
import logging
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from events.archive.migrations import migrate
from events.archive.remote import encode_result
from events.archive.restore import ARCHIVER_GROUP as GROUP
from events.archive.rows import rows_of
from events.archive.store import ClickHouseArchive, connect
from events.offsets import true_end_offsets
from infra.addresses import archive_file, chdb_dir
from infra.orphans import watch_supervisor
from infra.settings import Settings
from schemas.topics import ALL_TOPICS

log = logging.getLogger("stoa.archiver")

UNARCHIVED = "|".join(re.escape(spec.name) for spec in ALL_TOPICS if not spec.archived)
PATTERN = rf"^(?!(?:{UNARCHIVED})$)(stoa\.[a-z-]+|stoa-[a-z-]+-changelog)$"
"""Stoa's topics and the stream worker's table changelogs (app id ``stoa``), but not the
live media streams (room audio, captions): those are not facts, and a room's transcript
is archived from ``stoa.transcripts``."""


class ArchiveSink:
    """Consume, insert, then commit; an insert that fails is retried, never skipped."""

    def __init__(self, bootstrap: str, archive: ClickHouseArchive, max_records: int = 50_000):
        self.archive = archive
        self.max_records = max_records
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-db")
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=GROUP,
            client_id=GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=3000,  # new changelog topics are picked up within seconds
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
        )
        self.bootstrap = bootstrap
        self.archived = 0
        self.first_fetch_at: float | None = None
        self.last_commit_at: float | None = None
        self._stopping = asyncio.Event()
        self._in_flight: asyncio.Task[None] | None = None

    async def db_call(self, fn: Any, *args: Any) -> Any:
        """Every chDB call on one thread: the engine is not shared across threads here."""
        return await asyncio.get_running_loop().run_in_executor(self.db, fn, *args)

    async def run(self) -> None:
        self.consumer.subscribe(pattern=PATTERN)
        await self.consumer.start()
        try:
            while not self._stopping.is_set():
                await self._step(timeout_ms=200)
            await self._drain(deadline=time.monotonic() + 3.0)
            await self._settle()
        finally:
            await self.consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def _step(self, timeout_ms: int) -> int:
        """Fetch and convert the next batch while the previous one is being inserted.

        One insert is in flight at a time and offsets are committed in batch
        order, each only after its own insert: the overlap buys throughput
        without weakening "committed means archived".
        """
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        if not batch:
            await self._settle()
            return 0
        if self.first_fetch_at is None:
            self.first_fetch_at = time.time()
        ingested = datetime.now(UTC)
        rows = [row for records in batch.values() for r in records for row in rows_of(r, ingested)]
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        count = sum(len(records) for records in batch.values())
        await self._settle()
        self._in_flight = asyncio.create_task(self._insert_and_commit(rows, offsets, count))
        return count

    async def _settle(self) -> None:
        if self._in_flight is not None:
            await self._in_flight
            self._in_flight = None

    async def _insert_and_commit(
        self, rows: list[tuple[Any, ...]], offsets: dict[Any, int], count: int
    ) -> None:
        await self._insert(rows)
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # a rebalance took the partitions: the next owner re-reads and the table dedupes
            log.warning("commit after insert failed (%s); records will be re-read", exc)
        self.archived += count
        self.last_commit_at = time.time()

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        backoff = 0.2
        while True:
            try:
                await self.db_call(self.archive.insert, rows)
                return
            except Exception as exc:  # the store is down or full: hold the offsets and retry
                log.error("archive insert of %d rows failed: %s; retrying", len(rows), exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _drain(self, deadline: float) -> None:
        """On shutdown, archive up to the log's current end: the archive is the durable copy."""
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        ends = await true_end_offsets(self.bootstrap, assigned)
        while time.monotonic() < deadline:
            behind = [tp for tp in assigned if await self.consumer.position(tp) < ends[tp]]
            if not behind:
                return
            await self._step(timeout_ms=100)
        log.warning("shutdown drain stopped at its deadline; the rest is archived next start")


def query_app(sink: ArchiveSink) -> web.Application:
    async def query(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            result = await sink.db_call(
                functools.partial(sink.archive.query, read_only=True),
                str(body["sql"]),
                body.get("parameters") or None,
            )
        except Exception as exc:
            return web.json_response({"detail": str(exc)}, status=400)
        return web.Response(body=encode_result(result), content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "archived": sink.archived,
                "first_fetch_at": sink.first_fetch_at,
                "last_commit_at": sink.last_commit_at,
            }
        )

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/query", query)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(bootstrap: str, settings: Settings) -> None:
    client = connect(settings.clickhouse_url, chdb_dir(settings))
    migrate(client)
    sink = ArchiveSink(bootstrap, ClickHouseArchive(client))
    runner = web.AppRunner(query_app(sink), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = int(runner.addresses[0][1])  # the port the system picked
    address = archive_file(settings)
    address.parent.mkdir(parents=True, exist_ok=True)
    address.write_text(f"http://127.0.0.1:{port}")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sink.stop)
    log.info("archiving to %s; queries on port %d", settings.clickhouse_url or "chDB", port)
    try:
        await sink.run()
    finally:
        with contextlib.suppress(FileNotFoundError):
            address.unlink()
        await runner.cleanup()
        sink.db.shutdown(wait=True)
        client.close()


def main() -> None:
    watch_supervisor()
    parser = argparse.ArgumentParser(description="Archive every Stoa topic into ClickHouse")
    parser.add_argument("--bootstrap", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args.bootstrap, Settings()))


if __name__ == "__main__":
    main()
