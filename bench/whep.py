"""WHEP fan-out: listeners one core serves from one room's mixed stream.

One speaker (a child process) publishes into a room; child processes open N
receive-only WebRTC sessions and count the packets each gets (no decode).
The room's mix is encoded once by the mixer; per listener the gateway only
packetizes, encrypts (SRTP) and sends. The gateway's CPU share over a window
(from /proc, minus its idle share measured first) divided by N is the cost
of a listener; listeners per core is its inverse. Loss is the shortfall from
50 packets per second per listener, as counted by the clients; they share
the machine's two cores with the gateway, so at high N a starved client
process drops packets too, and the loss is an upper bound on the server's.
"""

import asyncio
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

WINDOW_SECONDS = 10.0
WARMUP_SECONDS = 2.0
PER_PROCESS = 100


async def _idle_share(pid: int) -> float:
    cpu = CpuWindow(pid)
    cpu.start()
    await asyncio.sleep(5)
    return cpu.share()


async def _step(
    base_url: str, pid: int, whep: str, token: str, listeners: int, idle: float
) -> dict[str, Any]:
    processes = [
        spawn(
            "receive",
            {
                "base_url": base_url,
                "whep": whep,
                "token": token,
                "count": min(PER_PROCESS, listeners - start),
                "warmup": WARMUP_SECONDS,
                "seconds": WINDOW_SECONDS,
            },
        )
        for start in range(0, listeners, PER_PROCESS)
    ]
    for process in processes:
        await ready(process)
    await asyncio.sleep(WARMUP_SECONDS)
    cpu = CpuWindow(pid)
    cpu.start()
    await asyncio.sleep(WINDOW_SECONDS - 0.5)
    share = cpu.share()
    packets: list[int] = []
    for process in processes:
        packets += (await asyncio.to_thread(collect, process, 120))["packets"]
    expected = WINDOW_SECONDS / 0.02
    net = max(share - idle, 1e-9)
    return {
        "listeners": listeners,
        "gateway_cpu_share": share,
        "cpu_us_per_listener_packet": net / (listeners * 50) * 1e6,
        "listeners_per_core": listeners / net,
        "loss_pct_p50": 100 * (1 - percentile([float(p) for p in packets], 50) / expected),
        "loss_pct_worst": 100 * (1 - min(packets) / expected) if packets else 100.0,
    }


async def _measure(base_url: str, pid: int, steps: list[int]) -> dict[str, Any]:
    async with aiohttp.ClientSession(base_url=base_url) as http:
        idle = await _idle_share(pid)
        room_id, _, joins = await open_room(http, "whep-host", ["whep-host"])
        with tempfile.TemporaryDirectory() as tmp:
            publisher = spawn(
                "publish",
                {
                    "base_url": base_url,
                    "wavs": [str(p) for p in speech_wavs(Path(tmp))],
                    "talking_every": 1,
                    "seconds": 3600,
                    "speakers": [
                        {"whip": joins[0]["publish"]["whip"], "token": joins[0]["token"]}
                        | {"index": 0, "of": 1}
                    ],
                },
            )
            await ready(publisher)
        listener = await call(
            http, await user_token(http, "whep-listener"), "POST", f"/v1/rooms/{room_id}/join"
        )
        alone = CpuWindow(pid)
        alone.start()
        await asyncio.sleep(5)
        speaking = alone.share()
        results = []
        try:
            for listeners in steps:
                results.append(
                    await _step(
                        base_url, pid, listener["listen"]["whep"], listener["token"],
                        listeners, speaking,
                    )
                )  # fmt: skip
        finally:
            publisher.kill()
            publisher.wait()
    figures: dict[str, Any] = {
        "gateway_idle_cpu_share": idle,
        "gateway_one_speaker_cpu_share": speaking,
    }
    for step in results:
        figures |= {f"n{step['listeners']}_{k}": v for k, v in step.items() if k != "listeners"}
    # The headline is the most loaded step that still delivered (least noise in the share).
    delivered = [s for s in results if s["loss_pct_p50"] < 1] or results[:1]
    best = max(delivered, key=lambda s: s["listeners"])
    figures["listeners_per_core"] = best["listeners_per_core"]
    figures["listeners_per_core_at"] = best["listeners"]
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    steps = [50] if quick else [50, 100, 200, 300]
    with media_stack() as stack:
        return asyncio.run(_measure(stack.gateway_url, gateway_pid(stack), steps))
