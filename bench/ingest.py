"""Ingest: speakers one core takes end to end (WebRTC receive, decode, mix, encode, deliver).

Rooms of 10 speakers (aiortc publishers in child processes, pre-encoded
espeak-ng speech) publish over WHIP; one WebSocket listener per room, in this
process, checks that every room's mix keeps coming at 50 frames/s and how
late. Two talk patterns:

* ``all``: every speaker talks all the time; every packet is decrypted,
  decoded and mixed (the worst case);
* ``turns``: two of each room's ten talk at a time (2 s turns) and the others
  are silent, sending nothing (DTX), as in a real room; silent speakers cost
  no decode.

The gateway's CPU share (from /proc, minus its idle share) divided into the
speaker count is speakers per core. Publishers run on the machine's other
core (their SRTP and sending cost is theirs, not the gateway's).
"""

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bench.media_common import (
    CpuWindow,
    call,
    collect,
    gateway_pid,
    media_stack,
    open_room,
    ready,
    spawn,
    speech_wavs,
    user_token,
)
from bench.stats import percentile
from media.clients import WsListener

ROOM_SIZE = 10
PER_PROCESS = 100
WINDOW_SECONDS = 10.0
WARMUP_SECONDS = 3.0


async def _step(
    http: aiohttp.ClientSession,
    base_url: str,
    pid: int,
    wavs: list[str],
    speakers: int,
    talking_every: int,
    idle: float,
    tag: str,
) -> dict[str, Any]:
    rooms = []
    for r in range(speakers // ROOM_SIZE):
        names = [f"{tag}-r{r}-s{i}" for i in range(ROOM_SIZE)]
        room_id, _, joins = await open_room(http, names[0], names)
        rooms.append((room_id, joins))
    entries = [
        {"whip": j["publish"]["whip"], "token": j["token"], "index": i, "of": ROOM_SIZE}
        for _, joins in rooms
        for i, j in enumerate(joins)
    ]
    seconds = WARMUP_SECONDS + WINDOW_SECONDS + 5
    processes = [
        spawn(
            "publish",
            {
                "base_url": base_url,
                "wavs": wavs,
                "talking_every": talking_every,
                "seconds": seconds,
                "speakers": entries[start : start + PER_PROCESS],
            },
        )
        for start in range(0, len(entries), PER_PROCESS)
    ]
    published = sum([(await ready(p))["ready"] for p in processes])
    listeners = []
    tasks = []
    for room_id, _ in rooms:
        join = await call(
            http, await user_token(http, f"{tag}-ear"), "POST", f"/v1/rooms/{room_id}/join"
        )
        listener = WsListener()
        tasks.append(asyncio.create_task(listener.run(http, join["listen"]["websocket"])))
        listeners.append(listener)
    await asyncio.sleep(WARMUP_SECONDS)
    firsts = [len(listener.heard) for listener in listeners]
    cpu = CpuWindow(pid)
    cpu.start()
    await asyncio.sleep(WINDOW_SECONDS)
    share = cpu.share()
    heard = [listener.heard[first:] for listener, first in zip(listeners, firsts, strict=True)]
    for task in tasks:
        task.cancel()
    for process in processes:
        await asyncio.to_thread(collect, process, 120)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    latencies = [(h.received_us - h.record.capture_us) / 1000 for room in heard for h in room]
    rates = [len(room) / WINDOW_SECONDS for room in heard]
    net = max(share - idle, 1e-9)
    return {
        "published": published,
        "gateway_cpu_share": share,
        "speakers_per_core": speakers / net,
        "mix_frames_per_s_min": min(rates),
        "arrival_to_ws_p50_ms": percentile(latencies, 50),
        "arrival_to_ws_p99_ms": percentile(latencies, 99),
    }


async def _measure(base_url: str, pid: int, steps: list[tuple[str, int]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession(base_url=base_url) as http:
        idle_window = CpuWindow(pid)
        idle_window.start()
        await asyncio.sleep(5)
        idle = idle_window.share()
        figures["gateway_idle_cpu_share"] = idle
        with tempfile.TemporaryDirectory() as tmp:
            wavs = [str(p) for p in speech_wavs(Path(tmp))]
            for n, (pattern, speakers) in enumerate(steps):
                talking_every = 1 if pattern == "all" else ROOM_SIZE // 2
                step = await _step(
                    http, base_url, pid, wavs, speakers, talking_every, idle, f"i{n}"
                )
                figures |= {f"{pattern}{speakers}_{k}": v for k, v in step.items()}
                await asyncio.sleep(2)  # sessions close before the next step
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    steps = (
        [("all", 20), ("turns", 20)]
        if quick
        else [("all", 50), ("all", 100), ("turns", 100), ("turns", 200)]
    )
    with media_stack() as stack:
        return asyncio.run(_measure(stack.gateway_url, gateway_pid(stack), steps))
