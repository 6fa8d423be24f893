"""HLS latency: a frame's capture to the playlist listing its segment (and its LL-HLS part).

Speakers (aiortc, a child process, pre-encoded espeak-ng speech, all
talking) publish into ``ROOMS`` rooms; the HLS segmenter (its own process, as
``stoa up`` runs it) follows the gateway and writes every room into the
object store (local files). In the first room a WebSocket listener records
each frame's ``capture_us`` (stamped by the SFU when the speaker's packet
arrived), and an LL-HLS client follows the playlist with blocking reloads
(``_HLS_msn``/``_HLS_part`` of the preload hint), noting when each part and
each segment is first listed. A frame's latency is that time minus its
capture time: SFU arrival → mix → segmenter → store → gateway → client,
on one machine.

A player starts that far behind the newest listing plus its hold-back:
``PART-HOLD-BACK`` (0.6 s) for an LL-HLS player, three target durations (3 s)
for a plain one. The segmenter's CPU is read from ``/proc`` and divided by
the rooms it carries, after what it costs with no room (following the
log); the floor it is compared with is the mixer's one Opus
encode per frame, which the segmenter never does.
"""

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.media_common import (
    CpuWindow,
    call,
    collect,
    media_stack,
    open_room,
    ready,
    spawn,
    speech_wavs,
    user_token,
)
from bench.stats import percentile
from media.clients import WsListener
from media.opus import OpusEncoder

WARMUP_SECONDS = 3.0
IDLE_SECONDS = 3.0
PART = re.compile(r'#EXT-X-PART:[^\n]*URI="(\d+)\.(\d+)\.m4s')
SEGMENT = re.compile(r"^(\d+)\.m4s", re.M)
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s')


@dataclass
class PlaylistFollower:
    """An LL-HLS client's view: when each part and segment was first listed (µs, wall clock)."""

    url: str
    parts: dict[tuple[int, int], int] = field(default_factory=dict)
    segments: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    first: set[str] = field(default_factory=set)
    """What the first answer already listed: not timed (it appeared before we looked)."""

    async def run(self, http: aiohttp.ClientSession) -> None:
        hint: tuple[str, str] | None = None
        while True:
            url = self.url if hint is None else f"{self.url}&_HLS_msn={hint[0]}&_HLS_part={hint[1]}"
            async with http.get(url) as response:
                text = await response.text()
                status = response.status
            now = time.time_ns() // 1000
            self.requests += 1
            if status != 200:
                hint = None
                await asyncio.sleep(0.1)
                continue
            for msn, index in PART.findall(text):
                self._seen(self.parts, (int(msn), int(index)), now, f"{msn}.{index}")
            for msn in SEGMENT.findall(text):
                self._seen(self.segments, int(msn), now, msn)
            found = HINT.search(text)
            hint = (found.group(1), found.group(2)) if found else None
            if "#EXT-X-ENDLIST" in text:
                return

    def _seen(self, seen: dict[Any, int], key: Any, now: int, name: str) -> None:
        if key in seen or name in self.first:
            return
        if self.requests == 1:
            self.first.add(name)
        else:
            seen[key] = now


async def _measure(base_url: str, segmenter_pid: int, rooms: int, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(base_url=base_url) as http:
        opened = [await open_room(http, f"hls-host-{i}", [f"hls-host-{i}"]) for i in range(rooms)]
        with tempfile.TemporaryDirectory() as tmp:
            wavs = [str(p) for p in speech_wavs(Path(tmp))]
            publisher = spawn(
                "publish",
                {
                    "base_url": base_url,
                    "wavs": wavs,
                    "talking_every": 1,
                    "seconds": WARMUP_SECONDS + seconds + 8,
                    "speakers": [
                        {
                            "whip": j[0]["publish"]["whip"],
                            "token": j[0]["token"],
                            "index": 0,
                            "of": 1,
                        }
                        for _, _, j in opened
                    ],
                },
            )
            await ready(publisher)
        room_id, host_token, _ = opened[0]
        joined = await call(
            http, await user_token(http, "hls-listener"), "POST", f"/v1/rooms/{room_id}/join"
        )
        listener = WsListener()
        listening = asyncio.create_task(listener.run(http, joined["listen"]["websocket"]))
        follower = PlaylistFollower(joined["listen"]["hls"])
        await asyncio.sleep(WARMUP_SECONDS)
        following = asyncio.create_task(follower.run(http))
        cpu = CpuWindow(segmenter_pid)
        cpu.start()
        await asyncio.sleep(seconds)
        share = cpu.share()
        await call(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
        ended = time.monotonic()
        await asyncio.wait_for(following, 15)  # the playlist closes: the follower stops
        endlist_s = time.monotonic() - ended
        listening.cancel()
        collect(publisher, timeout=60)

    part_ms, segment_ms = [], []
    for heard in listener.heard:
        seq = heard.record.seq
        msn, index = seq // 50, (seq % 50) // 10
        if (msn, index) in follower.parts:
            part_ms.append((follower.parts[(msn, index)] - heard.record.capture_us) / 1000)
        if msn in follower.segments:
            segment_ms.append((follower.segments[msn] - heard.record.capture_us) / 1000)
    encode_us = _encode_floor_us()
    return {
        "rooms": rooms,
        "seconds": seconds,
        "frames_timed": len(segment_ms),
        "parts_timed": len(follower.parts),
        "segments_timed": len(follower.segments),
        "capture_to_segment_listed_p50_ms": percentile(segment_ms, 50),
        "capture_to_segment_listed_p99_ms": percentile(segment_ms, 99),
        "capture_to_part_listed_p50_ms": percentile(part_ms, 50),
        "capture_to_part_listed_p99_ms": percentile(part_ms, 99),
        "playlist_requests_per_s": follower.requests / seconds,
        "room_end_to_endlist_s": endlist_s,
        "segmenter_cpu_share": share,
        "opus_encode_floor_us": encode_us,
    }


def _encode_floor_us() -> float:
    """One 20 ms Opus encode of the room mix, on this machine (the work HLS does not add)."""
    encoder = OpusEncoder()
    rng = np.random.default_rng(0)
    frames = [(0.1 * rng.standard_normal(960)).astype(np.float32) for _ in range(200)]
    started = time.perf_counter()
    for frame in frames:
        encoder.encode(frame)
    return (time.perf_counter() - started) / len(frames) * 1e6


def run(quick: bool = False) -> dict[str, Any]:
    with media_stack() as stack:
        segmenter = stack.start_segmenter()
        time.sleep(3)  # caught up with the log before the rooms open
        idle = CpuWindow(segmenter.pid)
        idle.start()
        time.sleep(IDLE_SECONDS)
        idle_share = idle.share()
        figures = asyncio.run(
            _measure(stack.gateway_url, segmenter.pid, 1 if quick else 3, 10 if quick else 30)
        )
    rooms = figures["rooms"]
    per_room = max(0.0, figures["segmenter_cpu_share"] - idle_share) / rooms
    return {
        **figures,
        "segmenter_idle_cpu_share": idle_share,
        "segmenter_cpu_per_room_share": per_room,
        "segmenter_us_per_frame": per_room * 1e6 / 50,
    }
