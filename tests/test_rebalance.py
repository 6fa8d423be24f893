"""Two workers share the room partitions: a rebalance loses and duplicates nothing."""

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.localstack import Stack, token, wait_worker_ready
from projections.room import fold
from schemas.codec import decode_event
from schemas.events import ChapterMarked, Event
from tests.kafka_client import consume

pytestmark = pytest.mark.slow

ROOMS = 50
COMMANDS_PER_ROOM = 40
PACE = 0.3  # seconds between one room's commands: keeps traffic flowing through the rebalance
STALLED = 200  # seconds; alone it takes about 40 s on two cores


@pytest.fixture
def lone_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        data_dir=tmp_path, env={"STOA_COMMAND_TIMEOUT": "60", "STOA_RATE_LIMIT": "0"}
    ).start_broker()
    try:
        stack.start_worker("worker-1")
        stack.start_gateway()
        wait_worker_ready(stack.gateway_url)
        yield stack
    finally:
        stack.stop()
        for log in sorted(tmp_path.glob("worker-*.log")):  # shown only when the test failed
            print(f"--- {log.name} (last 40 lines)", *log.read_text().splitlines()[-40:], sep="\n")


async def drive_room(client: httpx.AsyncClient, room_id: str, issued: list[str]) -> list[int]:
    """Alternate chapters with promote/demote; every command here must be accepted."""
    statuses = []
    for i in range(COMMANDS_PER_ROOM):
        if i % 3 == 0:
            title = f"chapter-{i}"
            response = await client.post(f"/v1/rooms/{room_id}/chapters", json={"title": title})
            issued.append(title)
        elif i % 3 == 1:
            response = await client.put(f"/v1/rooms/{room_id}/speakers/guest")
        else:
            response = await client.delete(f"/v1/rooms/{room_id}/speakers/guest")
        statuses.append(response.status_code)
        await asyncio.sleep(PACE)
    return statuses


def test_commands_survive_a_second_worker_joining(lone_stack: Stack) -> None:
    headers = token(lone_stack.gateway_url, "host")

    async def scenario() -> tuple[list[str], dict[str, list[str]], list[list[int]]]:
        async with httpx.AsyncClient(
            base_url=lone_stack.gateway_url, headers=headers, timeout=90
        ) as client:
            created = await asyncio.gather(
                *(
                    client.post("/v1/rooms", json={"title": f"room {i}", "start_now": True})
                    for i in range(ROOMS)
                )
            )
            assert all(r.status_code == 201 for r in created), [r.text for r in created]
            room_ids = [r.json()["room_id"] for r in created]
            issued: dict[str, list[str]] = defaultdict(list)
            drivers = asyncio.gather(*(drive_room(client, r, issued[r]) for r in room_ids))
            await asyncio.sleep(1.0)
            lone_stack.start_worker("worker-2")  # joins while commands are in flight
            async with asyncio.timeout(STALLED):
                statuses = await drivers
            return room_ids, issued, statuses

    started = time.monotonic()
    room_ids, issued, statuses = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    assert all(s in (200, 201) for room in statuses for s in room), statuses
    assert elapsed > 8, "the traffic must outlast the second worker's join"

    by_room: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    events: dict[str, list[Event]] = defaultdict(list)
    for record in consume(lone_stack.broker.bootstrap, "stoa.room-events"):
        event = decode_event(record["payload"])
        if event.room_id in room_ids and event.event_id not in {
            e.event_id for e in events[event.room_id]
        }:
            events[event.room_id].append(event)
        by_room[event.room_id][event.seq or 0].add(str(event.event_id))

    expected_events = 2 + COMMANDS_PER_ROOM  # RoomCreated + RoomStarted, then one per command
    for room_id in room_ids:
        seqs = by_room[room_id]
        assert sorted(seqs) == list(range(1, expected_events + 1)), f"{room_id}: lost or extra seq"
        assert all(len(ids) == 1 for ids in seqs.values()), f"{room_id}: one seq, two events"
        chapters = [e.data.title for e in events[room_id] if isinstance(e, ChapterMarked)]
        assert chapters == issued[room_id], f"{room_id}: chapters out of order or missing"
        state = fold(events[room_id])
        assert state is not None and state.version == expected_events
        served = httpx.get(f"{lone_stack.gateway_url}/v1/rooms/{room_id}").json()
        assert served["version"] == state.version
        assert served["speaker_ids"] == list(state.speaker_ids)

    deciders = {
        json.loads(r["payload"])["decided_by"]
        for r in consume(lone_stack.broker.bootstrap, "stoa.command-results")
    }
    assert len(deciders) == 2, f"the second worker never took partitions over: {deciders}"

    worker_logs = [(lone_stack.data_dir / f"worker-{n}.log").read_text() for n in (1, 2)]
    assert all("Traceback" not in log for log in worker_logs), worker_logs
    print(
        json.dumps(
            {"rooms": ROOMS, "commands": ROOMS * COMMANDS_PER_ROOM, "seconds": round(elapsed, 1)}
        )
    )
