"""Live captions and flags through the whole pipeline: delay behind the speaker, CPU per room.

A one-node stack (broker, stream worker, gateway) and one speech-to-text worker
process; a room whose host publishes espeak-ng speech over WHIP (aiortc) in a
loop: plain sentences and one abusive sentence, with pauses. A WebSocket
listener records when each caption arrives. Every delay is on the room's clock:
a caption whose words end ``end`` seconds into the room was spoken at
``started_at + end``; its delay is its arrival minus that. Finals measure what
transcripts and moderation wait for, partials what a listener reads first. Flag
latency is the ``SegmentFlagged`` event's ``occurred_at`` minus the end of the
flagged words. CPU is the worker process's, per talking room (one room here).
"""

import asyncio
import json
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.cpu import cpu_seconds
from bench.media_common import media_stack, open_room
from bench.stats import percentile
from events.reader import read_all
from infra.localstack import Stack
from infra.settings import Settings
from media import clients
from media.tokens import MediaTokens
from media.urls import listen_url
from schemas.topics import MODERATION

SENTENCES = (
    "Good evening and welcome, tonight we talk about the river and the old bridge.",
    "You are a stupid idiot, and I will kill you.",
    "The council will vote on the new library next week, so please come along.",
)
PAUSE_SECONDS = 1.2


def speech_packets(folder: Path) -> list[bytes | None]:
    """The sentences as one loop of 20 ms Opus packets, each followed by a pause."""
    pieces = []
    for n, text in enumerate(SENTENCES):
        raw, wav = folder / f"s{n}.raw.wav", folder / f"s{n}.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav), "norm", "-12"],
            check=True,
        )
        pieces += [clients.read_pcm(str(wav)), np.zeros(round(48_000 * PAUSE_SECONDS), "f4")]
    return clients.encode_packets(np.concatenate(pieces).astype(np.float32))


async def listen(http: aiohttp.ClientSession, url: str, heard: list[tuple[float, Any]]) -> None:
    async with http.ws_connect(url, max_msg_size=0) as ws:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                heard.append((time.time(), json.loads(message.data)))


async def _flags(bootstrap: str, room_id: str) -> list[dict[str, Any]]:
    out = []
    async for record in read_all(bootstrap, MODERATION.name):
        if record.key == room_id.encode():
            event = json.loads(record.value or b"{}")
            if event.get("type") == "SegmentFlagged":
                out.append(event)
    return out


def _delays(values: list[float], prefix: str) -> dict[str, Any]:
    if not values:
        return {f"{prefix}_count": 0}
    return {
        f"{prefix}_count": len(values),
        f"{prefix}_p50_s": percentile(values, 50),
        f"{prefix}_p95_s": percentile(values, 95),
        f"{prefix}_max_s": max(values),
    }


async def _measure(stack: Stack, worker_pid: int, seconds: float) -> dict[str, Any]:
    tokens = MediaTokens(Settings().auth_secret, ttl=3600)
    with tempfile.TemporaryDirectory() as folder:
        packets = speech_packets(Path(folder))
    async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
        room_id, _, joins = await open_room(http, "asr-host", ["asr-host"])
        async with http.get(f"/v1/rooms/{room_id}") as response:
            room = await response.json()
        started_at = datetime.fromisoformat(room["started_at"]).timestamp()
        heard: list[tuple[float, Any]] = []
        url = listen_url(stack.gateway_url, room_id, tokens.issue("asr-ear", room_id, "listener"))
        listening = asyncio.create_task(listen(http, url, heard))
        joined = joins[0]
        publisher = await clients.publish(http, joined["publish"]["whip"], joined["token"], packets)
        cpu_at, wall_at = cpu_seconds(worker_pid), time.monotonic()
        await clients.pace([publisher], seconds)
        cpu_share = (cpu_seconds(worker_pid) - cpu_at) / (time.monotonic() - wall_at)
        await asyncio.sleep(3)
        await publisher.pc.close()
        listening.cancel()
        flags = await _flags(stack.broker.bootstrap, room_id)
    captions = [(at, m) for at, m in heard if m.get("type") == "caption"]
    finals = [at - (started_at + m["end"]) for at, m in captions if m["final"]]
    partials = [at - (started_at + m["end"]) for at, m in captions if not m["final"]]
    flag_delays = [
        datetime.fromisoformat(f["occurred_at"]).timestamp()
        - (started_at + f["data"]["end_seconds"])
        for f in flags
    ]
    loops = seconds / (len(packets) * 0.02)
    print("final delays in order:", [round(d, 2) for d in finals])
    print("partial delays in order:", [round(d, 2) for d in partials])
    return {
        "live_seconds": seconds,
        "live_abusive_sentences_said": int(loops),
        "live_flags": len(flags),
        "live_flag_categories": sorted({f["data"]["category"] for f in flags}),
        "live_worker_cpu_per_room": cpu_share,
        "live_rooms_per_core": 1 / cpu_share if cpu_share else None,
        **_delays(finals, "live_final_delay"),
        **_delays(partials, "live_partial_delay"),
        **_delays(flag_delays, "live_flag_latency"),
        "live_captions_unavailable": sum(
            1 for _, m in heard if m.get("type") == "captions" and m["status"] == "unavailable"
        ),
    }


def run(quick: bool = False) -> dict[str, Any]:
    with media_stack() as stack:
        pid = stack.start_asr("asr-bench").pid
        return asyncio.run(_measure(stack, pid, 30.0 if quick else 90.0))


def moderation_figures() -> dict[str, Any]:
    """Precision and recall of the trained categories on the seed set's held-out split."""
    from rich.console import Console

    from streams.moderation_model import SEED_CSV
    from streams.moderation_train import train

    report = train(SEED_CSV, console=Console(stderr=True))
    out: dict[str, Any] = {"moderation_held_out_rows": report.held_out_rows}
    for f in report.figures:
        out[f"moderation_{f.category}_precision"] = f.precision
        out[f"moderation_{f.category}_recall"] = f.recall
    return out
