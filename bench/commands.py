"""Command round trip: HTTP -> gateway -> Kafka -> single writer -> Kafka -> HTTP.

50 concurrent clients (one room each) send 2,000 commands in total at a fixed
offered rate (open loop, so latency is measured at that rate rather than at
saturation), then a closed-loop run finds the most one worker sustains.
Everything runs on this machine: Tansu, one Faust worker, one gateway and the
clients share its cores.
"""

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.stats import percentile
from infra.localstack import single_node, token

CLIENTS = 50


Client = aiohttp.ClientSession


async def _command(client: Client, room: str, i: int) -> float:
    """Promote then demote a guest: two accepted commands, one event each."""
    started = time.perf_counter()
    method = "PUT" if i % 2 == 0 else "DELETE"
    guest = f"guest-{(i - i % 2) % 7}"
    async with client.request(method, f"/v1/rooms/{room}/speakers/{guest}") as response:
        body = await response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"command failed: {response.status} {body.decode()}")
    return elapsed


async def _open_loop(client: Client, rooms: list[str], total: int, rate: float) -> dict[str, float]:
    per_client = total // len(rooms)
    interval = len(rooms) / rate
    latencies: list[float] = []

    async def one_client(index: int, room: str) -> None:
        await asyncio.sleep(index * interval / len(rooms))  # spread the clients' phases
        next_at = time.perf_counter()
        for i in range(per_client):
            latencies.append(await _command(client, room, i))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n, r) for n, r in enumerate(rooms)))
    wall = time.perf_counter() - started
    return {
        "offered_rate": rate,
        "commands": len(latencies),
        "achieved_rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


async def _closed_loop(client: Client, rooms: list[str], total: int) -> dict[str, float]:
    latencies: list[float] = []
    per_client = total // len(rooms)

    async def one_client(room: str) -> None:
        for i in range(per_client):
            latencies.append(await _command(client, room, i))

    started = time.perf_counter()
    await asyncio.gather(*(one_client(r) for r in rooms))
    wall = time.perf_counter() - started
    return {
        "rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def _measure(base_url: str, total: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(
        base_url=base_url, headers=token(base_url, "bench-host"), connector=connector
    ) as client:
        rooms = []
        for i in range(CLIENTS):
            async with client.post("/v1/rooms", json={"title": f"b{i}", "start_now": True}) as r:
                rooms.append((await r.json())["room_id"])
        await _closed_loop(client, rooms, CLIENTS * 4)  # warm-up
        at_200 = await _open_loop(client, rooms, total, rate=200)
        at_300 = await _open_loop(client, rooms, total, rate=300)
        saturated = await _closed_loop(client, rooms, total)
    return {
        "rate200_p50_ms": at_200["p50_ms"],
        "rate200_p99_ms": at_200["p99_ms"],
        "rate200_achieved_per_s": at_200["achieved_rate"],
        "rate200_max_ms": at_200["max_ms"],
        "rate300_p50_ms": at_300["p50_ms"],
        "rate300_p99_ms": at_300["p99_ms"],
        "rate300_achieved_per_s": at_300["achieved_rate"],
        "closed_loop_per_s": saturated["rate"],
        "closed_loop_p50_ms": saturated["p50_ms"],
        "closed_loop_p99_ms": saturated["p99_ms"],
        "commands_per_run": total,
        "clients": CLIENTS,
    }


def run(quick: bool = False) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="stoa-bench-") as tmp,
        single_node(Path(tmp), STOA_RATE_LIMIT="0") as stack,
    ):
        return asyncio.run(_measure(stack.gateway_url, 500 if quick else 2000))
