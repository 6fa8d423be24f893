"""Replay: time to first byte of a ranged request for a recording, through the gateway.

A room with one aiortc speaker talks for 20 s and ends; the stack's real
recorder finishes its files. Then one client asks for random 64 KiB ranges of
the web file (as a player seeking does), one request at a time on a kept-alive
connection, and for the same ranges of the podcast file: the time from sending
the request to the first byte of the answer's body. The first 20 requests warm
the connection and are not counted.
"""

import asyncio
import random
import time
import uuid
from typing import Any

import aiohttp
import numpy as np

from bench.media_common import call, media_stack, open_room
from bench.stats import percentile
from media import clients
from media.opus import SAMPLE_RATE
from schemas.recording import recording_id_for

REQUESTS = 1000
WARM_UP = 20
RANGE_BYTES = 64 * 1024
TALK_SECONDS = 20.0


async def _record(http: aiohttp.ClientSession) -> tuple[uuid.UUID, str, dict[str, Any]]:
    t = np.arange(int(5.0 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = clients.encode_packets((0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32))
    room_id, token, joins = await open_room(http, "bench-replay-host", ["bench-replay-host"])
    publisher = await clients.publish(http, joins[0]["publish"]["whip"], joins[0]["token"], tone)
    await clients.pace([publisher], TALK_SECONDS)
    await publisher.pc.close()
    await call(http, token, "POST", f"/v1/rooms/{room_id}/end")
    recording_id = recording_id_for(room_id)
    for _ in range(600):
        async with http.get(
            f"/v1/recordings/{recording_id}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            view: dict[str, Any] = await r.json() if r.status == 200 else {}
        if view.get("status") == "ready":
            return recording_id, token, view
        await asyncio.sleep(0.1)
    raise RuntimeError("the recording never got ready")


async def _first_bytes(
    http: aiohttp.ClientSession, url: str, token: str, size: int, count: int
) -> list[float]:
    rnd = random.Random(7)
    times = []
    for _ in range(count):
        start = rnd.randrange(0, max(1, size - RANGE_BYTES))
        span = f"bytes={start}-{start + RANGE_BYTES - 1}"
        headers = {"Authorization": f"Bearer {token}", "Range": span}
        sent = time.perf_counter()
        async with http.get(url, headers=headers) as r:
            await r.content.readany()
            times.append((time.perf_counter() - sent) * 1000)
            assert r.status == 206, r.status
            await r.read()
    return times[WARM_UP:]


async def _run(quick: bool) -> dict[str, Any]:
    count = 200 if quick else REQUESTS
    with media_stack() as stack:
        stack.start_recorder()
        log = stack.data_dir / "recorder.log"
        while not (log.exists() and b"following" in log.read_bytes()):
            time.sleep(0.05)
        async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
            recording_id, token, view = await _record(http)
            figures: dict[str, Any] = {"recording_seconds": view["duration_seconds"]}
            base = f"/v1/recordings/{recording_id}/audio"
            for name, url, size in (
                ("opus", base, view["audio"]["bytes"]),
                ("m4a", f"{base}?format=m4a", view["podcast"]["bytes"]),
            ):
                times = await _first_bytes(http, url, token, size, count + WARM_UP)
                figures[f"ttfb_{name}_p50_ms"] = percentile(times, 50)
                figures[f"ttfb_{name}_p99_ms"] = percentile(times, 99)
                figures[f"ttfb_{name}_max_ms"] = max(times)
                figures[f"{name}_bytes"] = size
            figures["requests"] = count
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(quick))
