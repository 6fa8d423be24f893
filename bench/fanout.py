"""Relay fan-out: how many listeners one relay core carries, at what delay, for what memory.

One relay process is pinned to core 0 from birth; everything else (broker,
worker, the gateway mixing a talking room, this process's aiortc publisher and
the listeners, all in one ``bench.swarm`` process of lean WebSocket clients)
is pinned to core 1. The audience grows step by step; at each step every
listener connects at once, then listens for ``SECONDS``:

* **delay**: receive time minus capture time of sampled frames (so it holds the
  mixer's 40 ms jitter buffer and the batching window as well as the relay);
* **gaps**: seqs a listener lost without being told, and seqs skipped with a gap
  message (the relay's slow-client handling);
* **relay CPU** from ``/proc`` over the listening window, and its memory.

A step passes when nobody missed a seq and the p99 delay stays within
``DELAY_BUDGET_MS`` beyond the batching window and the pipeline's own delay
(the p50 seen by the smallest audience). The figure is the largest passing
audience; the relay's core share at that step says how close to its limit it is.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bench.cpu import cpu_seconds
from bench.media_common import media_stack, open_room, speech_wavs
from infra.localstack import Stack
from infra.settings import Settings
from media import clients
from media.tokens import MediaTokens
from media.urls import listen_url

SECONDS = 15.0
SETTLE_SECONDS = 1.0
"""Delays count from this long after the last listener connected: steady state."""
BATCH = 5
"""Frames per message for passive listeners (the relay's default, ``STOA_RELAY_BATCH``)."""
DELAY_BUDGET_MS = 100.0
STEPS = (1_000, 2_500, 5_000, 7_500, 10_000, 12_500, 15_000)
QUICK_STEPS = (200, 1_000)


def pin(pid: int, cpus: str) -> None:
    """Every thread of ``pid`` onto ``cpus`` (taskset's list)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def audience(
    relay_url: str, room_id: str, tokens: MediaTokens, count: int, folder: Path, tag: str
) -> dict[str, Any]:
    """``count`` listeners on the relay for ``SECONDS``, all connecting at once; their summary."""
    plan = [
        [listen_url(relay_url, room_id, tokens.issue(f"{tag}-{i}", room_id, "listener"))
         + f"&batch={BATCH}"]
        for i in range(count)
    ]  # fmt: skip
    path = folder / f"plan-{tag}.json"
    path.write_text(json.dumps(plan))
    swarm = await asyncio.create_subprocess_exec(
        "taskset", "-c", "1", sys.executable, "-m", "bench.swarm", "--plan", str(path),
        "--seconds", str(SECONDS), "--ramp", "0", "--settle", str(SETTLE_SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await swarm.communicate()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _measure(stack: Stack, steps: tuple[int, ...], folder: Path) -> dict[str, Any]:
    for process in stack.processes:
        pin(process.pid, "1")
    if stack.broker.pid is not None:
        pin(stack.broker.pid, "1")
    os.sched_setaffinity(0, {1})
    relay = await asyncio.to_thread(stack.start_relay, None, "fanout", "0")
    tokens = MediaTokens(Settings().auth_secret, ttl=3600)
    figures: dict[str, Any] = {"batch_frames": BATCH, "batch_window_ms": BATCH * 20}
    async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
        room_id, _, joins = await open_room(http, "fanout-host", ["fanout-host"])
        packets = clients.encode_packets(clients.read_pcm(str(speech_wavs(folder)[0])))
        publisher = await clients.publish(
            http, joins[0]["publish"]["whip"], joins[0]["token"], packets
        )
        pacing = asyncio.create_task(clients.pace([publisher], 3600))
        try:
            await asyncio.sleep(2)
            idle_rss = rss_kib(relay.process.pid)
            baseline: float | None = None
            best = 0
            for count in steps:
                cpu_before = cpu_seconds(relay.process.pid)
                result = await audience(relay.url, room_id, tokens, count, folder, f"n{count}")
                cpu_used = cpu_seconds(relay.process.pid) - cpu_before
                rss = rss_kib(relay.process.pid)
                (step,) = result["by_url"].values()
                baseline = baseline if baseline is not None else step["delay_p50_ms"]
                budget = baseline + BATCH * 20 + DELAY_BUDGET_MS
                passed = (
                    step["silent_listeners"] == 0
                    and step["missing_total"] == 0
                    and step["reported_gap_frames"] == 0
                    and step["delay_p99_ms"] <= budget
                )
                figures[f"n{count}_delay_p50_ms"] = step["delay_p50_ms"]
                figures[f"n{count}_delay_p99_ms"] = step["delay_p99_ms"]
                figures[f"n{count}_missing"] = step["missing_total"]
                figures[f"n{count}_skipped_with_gap"] = step["reported_gap_frames"]
                figures[f"n{count}_all_connected_s"] = result["all_connected_s"]
                figures[f"n{count}_relay_core_share"] = cpu_used / result["wall_seconds"]
                figures[f"n{count}_relay_kib_per_listener"] = (rss - idle_rss) / count
                figures[f"n{count}_client_core_share"] = (
                    result["cpu_seconds"] / result["wall_seconds"]
                )
                figures[f"n{count}_passed"] = passed
                print(
                    f"  {count} listeners: p99 {step['delay_p99_ms']:.0f} ms "
                    f"(budget {budget:.0f}), missing {step['missing_total']}, "
                    f"gap-skipped {step['reported_gap_frames']}, "
                    f"relay {cpu_used / result['wall_seconds']:.0%} of a core, "
                    f"all connected in {result['all_connected_s']:.1f} s",
                    flush=True,
                )
                if not passed:
                    break
                best = count
                await asyncio.sleep(1)
            figures["delay_budget_ms"] = (baseline or 0) + BATCH * 20 + DELAY_BUDGET_MS
            figures["listeners_per_relay_core"] = best
        finally:
            pacing.cancel()
            await publisher.pc.close()
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    with media_stack() as stack, tempfile.TemporaryDirectory(prefix="stoa-fanout-") as tmp:
        return asyncio.run(_measure(stack, QUICK_STEPS if quick else STEPS, Path(tmp)))
