"""Relay fan-out: how many listeners one relay core carries, at what delay, for what memory.

One relay process (the real ``media.relay_node``) is pinned to core 0 from
birth. Core 1 holds everything else: the broker (the relay follows
``stoa.room-state`` to admit listeners and reports its load), an origin that
plays the part of the mixing node, and the listeners, all in one
``bench.swarm`` process of lean WebSocket clients.

The origin serves the listen protocol from this process: 20 ms Opus packets
of speech encoded at 64 kbps, stamped with the time they are sent. A real
mixing node would have put a decode-mix-encode per room and aiortc on the
listeners' core, and the figure would say more about that core than about the
relay (its own costs are measured by ``stoa bench ingest`` and
``stoa bench media-latency``). The room is announced on ``stoa.room-state`` as
the room writer would.

The audience grows step by step; at each step every listener connects at
once, then listens for ``SECONDS``:

* **delay**: receive time minus the time the origin sent the frame, sampled
  once everyone has connected: the batching window, the relay, the kernel and
  the client;
* **gaps**: seqs a listener lost without being told, and seqs skipped with a gap
  message (the relay's slow-client handling);
* **relay CPU** from ``/proc`` over the listening window, and its memory.

A step passes when nobody missed a seq and the p99 delay stays within
``DELAY_BUDGET_MS`` beyond the batching window. The figure is the largest
passing audience, for each batching window measured.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.cpu import cpu_seconds
from bench.media_common import speech_wavs
from events.admin import ensure_topics
from events.producer import LogProducer
from infra.broker import EmbeddedBroker, free_port
from infra.localstack import ROOT, stoa_env, wait_http
from infra.settings import Settings
from media import clients
from media.listen import encode_record, room_message
from media.tokens import MediaTokens
from media.urls import listen_url
from media.wsframe import binary_frame
from schemas.room import RoomState
from schemas.topics import ROOM_STATE

SECONDS = 15.0
SETTLE_SECONDS = 1.0
"""Delays count from this long after the last listener connected: steady state."""
BATCHES = (5, 10)
"""Frames per message for passive listeners (``STOA_RELAY_BATCH``): each is measured."""
DELAY_BUDGET_MS = 100.0
STEPS = (2_500, 5_000, 7_500, 10_000, 12_500, 15_000, 17_500)
QUICK_STEPS = (200, 1_000)
QUICK_BATCHES = (5,)
ROOM = "fanout-room"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Origin:
    """The listen protocol's server side for one room, as the mixing node speaks it."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.transports: list[asyncio.BaseTransport] = []
        self.seq = 0

    async def listen(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        state = {"room_id": ROOM, "status": "live"}
        await ws.send_str(room_message(state))
        assert request.transport is not None
        self.transports.append(request.transport)
        async for _ in ws:
            pass
        return ws

    async def play(self) -> None:
        """A frame every 20 ms on a steady clock, stamped with when it is sent."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += 0.020
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            packet = self.packets[self.seq % len(self.packets)]
            frame = binary_frame(encode_record(self.seq, time.time_ns() // 1000, packet))
            for transport in self.transports:
                if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                    transport.write(frame)
            self.seq += 1


async def announce_room(bootstrap: str) -> None:
    """The room's snapshot on ``stoa.room-state``, live, as the room writer publishes it."""
    now = datetime.now(UTC)
    state = RoomState(
        room_id=ROOM, host_id="fanout-host", title="fan-out", status="live",
        created_at=now, started_at=now, version=2,
    )  # fmt: skip
    producer = await LogProducer(bootstrap, "bench-fanout").start()
    try:
        await producer.send(ROOM_STATE.name, ROOM, state)
    finally:
        await producer.stop()


async def audience(
    relay_url: str, tokens: MediaTokens, count: int, batch: int, folder: Path, tag: str
) -> dict[str, Any]:
    """``count`` listeners on the relay for ``SECONDS``, all connecting at once; their summary."""
    plan = [
        [listen_url(relay_url, ROOM, tokens.issue(f"{tag}-{i}", ROOM, "listener"))
         + f"&batch={batch}"]
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


async def steps(
    relay_url: str,
    relay_pid: int,
    tokens: MediaTokens,
    batch: int,
    counts: tuple[int, ...],
    folder: Path,
) -> dict[str, Any]:
    """Grow the audience until a step fails; the figures of every step, and the best."""
    figures: dict[str, Any] = {}
    budget = batch * 20 + DELAY_BUDGET_MS
    best = 0
    idle_rss = rss_kib(relay_pid)
    for count in counts:
        cpu_before = cpu_seconds(relay_pid)
        result = await audience(relay_url, tokens, count, batch, folder, f"b{batch}n{count}")
        cpu_used = cpu_seconds(relay_pid) - cpu_before
        (step,) = result["by_url"].values()
        passed = (
            step["silent_listeners"] == 0
            and step["missing_total"] == 0
            and step["reported_gap_frames"] == 0
            and step["delay_p99_ms"] <= budget
        )
        key = f"b{batch}_n{count}"
        figures[f"{key}_delay_p50_ms"] = step["delay_p50_ms"]
        figures[f"{key}_delay_p99_ms"] = step["delay_p99_ms"]
        figures[f"{key}_missing"] = step["missing_total"]
        figures[f"{key}_skipped_with_gap"] = step["reported_gap_frames"]
        figures[f"{key}_all_connected_s"] = result["all_connected_s"]
        figures[f"{key}_relay_core_share"] = cpu_used / result["wall_seconds"]
        figures[f"{key}_relay_kib_per_listener"] = (rss_kib(relay_pid) - idle_rss) / count
        figures[f"{key}_client_core_share"] = result["cpu_seconds"] / result["wall_seconds"]
        figures[f"{key}_passed"] = passed
        print(
            f"  {batch} frames/message, {count} listeners: p50 {step['delay_p50_ms']:.0f} ms, "
            f"p99 {step['delay_p99_ms']:.0f} ms (budget {budget:.0f}), "
            f"missing {step['missing_total']}, gap-skipped {step['reported_gap_frames']}, "
            f"relay {cpu_used / result['wall_seconds']:.0%} of a core, "
            f"all connected in {result['all_connected_s']:.1f} s",
            flush=True,
        )
        if not passed:
            break
        best = count
        await asyncio.sleep(2)  # the previous audience's sockets close
    figures[f"b{batch}_delay_budget_ms"] = budget
    figures[f"b{batch}_listeners_per_relay_core"] = best
    return figures


async def _measure(
    broker: EmbeddedBroker, batches: tuple[int, ...], counts: tuple[int, ...], folder: Path
) -> dict[str, Any]:
    await ensure_topics(broker.bootstrap, 4)
    await announce_room(broker.bootstrap)
    packets = clients.encode_packets(clients.read_pcm(str(speech_wavs(folder)[0])), bitrate=64000)
    origin = Origin([p for p in packets if p is not None])
    app = web.Application()
    app.router.add_get("/v1/rooms/{room_id}/listen", origin.listen)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    origin_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", origin_port).start()
    playing = asyncio.create_task(origin.play())
    relay_port = free_port()
    relay_url = f"http://127.0.0.1:{relay_port}"
    log = open(folder / "relay.log", "ab")  # noqa: SIM115
    relay = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "media.relay_node",
         "--bootstrap", broker.bootstrap, "--upstream", f"http://127.0.0.1:{origin_port}",
         "--port", str(relay_port), "--id", "fanout-relay"],
        cwd=ROOT, env=stoa_env(folder), stdout=log, stderr=log,
    )  # fmt: skip
    figures: dict[str, Any] = {"opus_kbps": 64}
    try:
        await asyncio.to_thread(wait_http, f"{relay_url}/healthz", 30)
        tokens = MediaTokens(Settings().auth_secret, ttl=3600)
        for batch in batches:
            figures |= await steps(relay_url, relay.pid, tokens, batch, counts, folder)
    finally:
        relay.terminate()
        relay.wait(timeout=10)
        playing.cancel()
        await runner.cleanup()
    figures["listeners_per_relay_core"] = max(
        figures[f"b{b}_listeners_per_relay_core"] for b in batches
    )
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="stoa-fanout-") as tmp:
        broker = EmbeddedBroker(log_path=Path(tmp) / "broker.log").start()
        try:
            subprocess.run(["taskset", "-a", "-p", "-c", "1", str(broker.pid)], check=True,
                           capture_output=True)  # fmt: skip
            batches, counts = (QUICK_BATCHES, QUICK_STEPS) if quick else (BATCHES, STEPS)
            return asyncio.run(_measure(broker, batches, counts, Path(tmp)))
        finally:
            broker.stop()
