"""Media latency: a speaker's packet arriving at the SFU to the mixed packet on a WebSocket.

Three aiortc speakers (a child process, pre-encoded espeak-ng speech, all
talking) publish over WHIP into one room; a WebSocket listener in this
process reads the mix. Each mixed record carries the arrival time of the
newest speaker packet in it (``capture_us``, stamped by the SFU on receipt),
so the listener's receive time minus ``capture_us`` is arrival → jitter
buffer → mix → encode → WebSocket → client, on one machine (no network).

Then the host mutes and unmutes a speaker 20 times through the HTTP API and
the gateway's ``stoa_media_enforcement_seconds`` histogram gives the delay
from each event's ``occurred_at`` (the command's issue time, so it includes
the room writer and the log) to its enforcement in the media plane.
"""

import asyncio
import re
import tempfile
import time
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

SPEAKERS = ["lat-host", "lat-ann", "lat-ben"]
WARMUP_SECONDS = 2.0
MUTE_CYCLES = 20


def histogram(metrics: str, name: str, actions: tuple[str, ...]) -> dict[str, float]:
    """Count, mean and bucket-bound p50/p99 of a labelled Prometheus histogram."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for line in metrics.splitlines():
        match = re.match(
            rf'{name}_(bucket|sum|count)\{{action="(\w+)"(?:,le="([^"]+)")?\}} (\S+)', line
        )
        if not match or match.group(2) not in actions:
            continue
        kind, _, le, value = match.groups()
        if kind == "bucket":
            upper = float("inf") if le == "+Inf" else float(le)
            buckets[upper] = buckets.get(upper, 0.0) + float(value)
        elif kind == "sum":
            total += float(value)
        else:
            count += float(value)

    def bound(q: float) -> float:
        return next((b for b in sorted(buckets) if buckets[b] >= q * count), float("nan"))

    mean = total / count if count else float("nan")
    return {"count": count, "mean": mean, "p50_le": bound(0.5), "p99_le": bound(0.99)}


async def _measure(base_url: str, pid: int, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(base_url=base_url) as http:
        room_id, host_token, joins = await open_room(http, SPEAKERS[0], SPEAKERS)
        with tempfile.TemporaryDirectory() as tmp:
            wavs = [str(p) for p in speech_wavs(Path(tmp))]
            publisher = spawn(
                "publish",
                {
                    "base_url": base_url,
                    "wavs": wavs,
                    "talking_every": 1,
                    "seconds": WARMUP_SECONDS + seconds + MUTE_CYCLES * 0.6 + 5,
                    "speakers": [
                        {"whip": j["publish"]["whip"], "token": j["token"], "index": i, "of": 3}
                        for i, j in enumerate(joins)
                    ],
                },
            )
            await ready(publisher)
        listener_join = await call(
            http, await user_token(http, "lat-listener"), "POST", f"/v1/rooms/{room_id}/join"
        )
        listener = WsListener()
        task = asyncio.create_task(listener.run(http, listener_join["listen"]["websocket"]))
        await asyncio.sleep(WARMUP_SECONDS)
        cpu = CpuWindow(pid)
        cpu.start()
        first = len(listener.heard)
        await asyncio.sleep(seconds)
        heard = listener.heard[first:]
        share = cpu.share()

        round_trips = []
        for _ in range(MUTE_CYCLES):
            for method in ("PUT", "DELETE"):
                started = time.perf_counter()
                await call(http, host_token, method, f"/v1/rooms/{room_id}/mutes/lat-ann")
                round_trips.append(time.perf_counter() - started)
                await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)
        async with http.get("/metrics") as response:
            enforcement = histogram(
                await response.text(), "stoa_media_enforcement_seconds", ("mute", "unmute")
            )
        task.cancel()
        collect(publisher, timeout=60)

    latencies = [(h.received_us - h.record.capture_us) / 1000 for h in heard]
    seqs = [h.record.seq for h in heard]
    return {
        "seconds": seconds,
        "speakers": len(SPEAKERS),
        "frames": len(heard),
        "frames_per_s": len(heard) / seconds,
        "missing_frames": (seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 0,
        "arrival_to_ws_p50_ms": percentile(latencies, 50),
        "arrival_to_ws_p99_ms": percentile(latencies, 99),
        "arrival_to_ws_max_ms": max(latencies) if latencies else float("nan"),
        "gateway_cpu_share": share,
        "enforcements": enforcement["count"],
        "enforcement_mean_ms": enforcement["mean"] * 1000,
        "enforcement_p50_le_ms": enforcement["p50_le"] * 1000,
        "enforcement_p99_le_ms": enforcement["p99_le"] * 1000,
        "mute_http_p50_ms": percentile(round_trips, 50) * 1000,
    }


def run(quick: bool = False) -> dict[str, Any]:
    with media_stack() as stack:
        return asyncio.run(_measure(stack.gateway_url, gateway_pid(stack), 5 if quick else 20))
