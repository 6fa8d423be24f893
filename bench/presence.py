"""Presence folding: 50,000 listener joins and leaves across 100 rooms, one worker.

Edges (gateways, relays) send presence in batches per room; this plays 100
edges' worth of batches straight onto ``stoa.presence`` as fast as the
producer goes, then waits until ``stoa.presence-counts`` shows every room's
exact count (300 listeners, peak 400: 400 joins then 100 leaves per room).
"""

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from infra.localstack import single_node
from schemas import events as e
from schemas.base import utcnow
from schemas.presence import PresenceBatch, PresenceCounts, presence_event
from schemas.topics import PRESENCE, PRESENCE_COUNTS

ROOMS = 100
JOINS, LEAVES = 400, 100
BATCH = 100


def _batches(room_id: str) -> list[PresenceBatch]:
    now = utcnow()

    def event(user: int, joined: bool) -> e.ListenerJoined | e.ListenerLeft:
        return presence_event(room_id, f"u{user}", joined, now)

    events = [event(u, True) for u in range(JOINS)] + [event(u, False) for u in range(LEAVES)]
    edge = f"bench-edge-{room_id}"
    return [
        PresenceBatch(
            batch_id=uuid.uuid4(),
            edge_id=edge,
            batch_seq=n + 1,
            room_id=room_id,
            events=tuple(events[i : i + BATCH]),
        )
        for n, i in enumerate(range(0, len(events), BATCH))
    ]


async def _measure(bootstrap: str, room_ids: list[str]) -> dict[str, Any]:
    producer = await LogProducer(bootstrap, "bench-presence").start()
    exact: set[str] = set()
    done = asyncio.Event()
    target = JOINS - LEAVES

    def on_counts(record: RawRecord) -> None:
        counts = PresenceCounts.model_validate_json(record.value or b"")
        if counts.room_id in room_ids and (counts.listener_count, counts.peak_listeners) == (
            target,
            JOINS,
        ):
            exact.add(counts.room_id)
            if len(exact) == len(room_ids):
                done.set()

    follower = TopicFollower(bootstrap, [PRESENCE_COUNTS.name], on_counts, producer, "bench")
    await follower.start()
    plan = {room: _batches(room) for room in room_ids}
    # interleave rooms as real edges would, keeping each room's batches in order
    ordered = [plan[r][i] for i in range(len(plan[room_ids[0]])) for r in room_ids]
    started = time.perf_counter()
    await producer.send_many(PRESENCE.name, [(b.room_id, b) for b in ordered])
    produced = time.perf_counter()
    await asyncio.wait_for(done.wait(), timeout=300)
    finished = time.perf_counter()
    await follower.stop()
    await producer.stop()
    total = ROOMS * (JOINS + LEAVES)
    return {
        "events": total,
        "rooms": ROOMS,
        "batches": len(ordered),
        "events_per_batch": BATCH,
        "produce_seconds": produced - started,
        "until_exact_seconds": finished - started,
        "folded_events_per_s": total / (finished - started),
    }


def run(quick: bool = False) -> dict[str, Any]:
    global ROOMS
    if quick:
        ROOMS = 20
    with (
        tempfile.TemporaryDirectory(prefix="stoa-bench-") as tmp,
        single_node(Path(tmp), STOA_RATE_LIMIT="0") as stack,
    ):
        rooms = [f"presence-bench-{i}" for i in range(ROOMS)]
        return asyncio.run(_measure(stack.broker.bootstrap, rooms))
