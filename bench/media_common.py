"""Shared parts of the media benches: a stack, rooms, speech, client processes, CPU meters.

Clients (WHIP publishers, WHEP receivers) run in child processes started with
``python -m bench.media_common ROLE CONFIG_JSON``, so the gateway's CPU time,
read from ``/proc``, is the server's alone. Publishers send pre-encoded Opus
(no encode per client), receivers count packets without decoding.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.cpu import cpu_seconds
from infra.localstack import Stack, single_node
from media import clients

PHRASES = [
    "Good morning and welcome to the show, today we talk about the weather and the sea.",
    "I think the real question is how we get there, and what it costs us on the way.",
    "Let me add one thing: the numbers from last year were much better than expected.",
]
FRAME_SECONDS = 0.02


@contextlib.contextmanager
def media_stack() -> Iterator[Stack]:
    """Broker, one worker, one gateway (which hosts the media plane); no rate limit."""
    with (
        tempfile.TemporaryDirectory(prefix="stoa-bench-media-") as tmp,
        single_node(Path(tmp), STOA_RATE_LIMIT="0", STOA_MEDIA_TOKEN_TTL="3600") as stack,
    ):
        yield stack


def gateway_pid(stack: Stack) -> int:
    return next(p.pid for p in stack.processes if "api.serve" in str(p.args))


@dataclass
class CpuWindow:
    """CPU share of a process over a wall-clock window (1.0 = one core busy)."""

    pid: int
    started_wall: float = 0.0
    started_cpu: float = 0.0

    def start(self) -> None:
        self.started_wall, self.started_cpu = time.monotonic(), cpu_seconds(self.pid)

    def share(self) -> float:
        wall = time.monotonic() - self.started_wall
        return (cpu_seconds(self.pid) - self.started_cpu) / wall


async def user_token(http: aiohttp.ClientSession, user_id: str) -> str:
    async with http.post("/v1/auth/dev-token", json={"user_id": user_id}) as response:
        token: str = (await response.json())["token"]
        return token


async def call(http: aiohttp.ClientSession, token: str, method: str, path: str) -> Any:
    async with http.request(method, path, headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
        if r.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {r.status} {body}")
        return body


async def open_room(
    http: aiohttp.ClientSession, host: str, speakers: list[str]
) -> tuple[str, str, list[dict[str, Any]]]:
    """A live room with ``speakers`` on stage: (room id, host user token, each speaker's join)."""
    host_token = await user_token(http, host)
    async with http.post(
        "/v1/rooms",
        json={"title": f"bench {host}", "start_now": True},
        headers={"Authorization": f"Bearer {host_token}"},
    ) as response:
        room_id: str = (await response.json())["room_id"]
    joins = []
    for speaker in speakers:
        if speaker != host:
            await call(http, host_token, "PUT", f"/v1/rooms/{room_id}/speakers/{speaker}")
        joins.append(
            await call(http, await user_token(http, speaker), "POST", f"/v1/rooms/{room_id}/join")
        )
    return room_id, host_token, joins


def speech_wavs(folder: Path) -> list[Path]:
    paths = []
    for i, text in enumerate(PHRASES):
        raw, path = folder / f"p{i}.raw.wav", folder / f"p{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en", "-p", str(30 + 20 * i), "-w", str(raw), text], check=True
        )
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(path), "norm", "-12"],
            check=True,
        )
        paths.append(path)
    return paths


def talk_pattern(
    packets: list[bytes | None], index: int, talking_every: int, total: int
) -> list[bytes | None]:
    """Speaker ``index`` of ``total`` talks one turn in ``talking_every`` (DTX silence otherwise).

    With ``talking_every`` = 1 everyone talks all the time (the worst case).
    """
    if talking_every <= 1:
        return packets
    turn = 100  # 2 s turns
    out: list[bytes | None] = []
    for frame in range(turn * total):
        talking = (frame // turn - index) % talking_every == 0
        out.append(packets[frame % len(packets)] if talking else None)
    return out


def spawn(role: str, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.media_common", role, json.dumps(config)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


async def ready(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Wait for the client's first line: its sessions are connected."""
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    if not line:
        raise RuntimeError(f"client process died before it was ready ({process.wait()})")
    result: dict[str, Any] = json.loads(line)
    return result


def collect(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The client's last line: what it measured."""
    out, _ = process.communicate(timeout=timeout)
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"client process failed ({process.returncode}): {out.decode()[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- client processes -----------------------------------------------------


async def _publishers(config: dict[str, Any]) -> dict[str, Any]:
    """Publish every ``speakers`` entry, then pace them all for ``seconds``."""
    sources = [clients.encode_packets(clients.read_pcm(p)) for p in config["wavs"]]
    published: list[clients.Publisher] = []
    failed = 0
    async with aiohttp.ClientSession(base_url=config["base_url"]) as http:
        for n, speaker in enumerate(config["speakers"]):
            packets = talk_pattern(
                sources[n % len(sources)], speaker["index"], config["talking_every"], speaker["of"]
            )
            try:
                published.append(
                    await clients.publish(http, speaker["whip"], speaker["token"], packets)
                )
            except clients.MediaRefused:
                failed += 1
        connected = time.monotonic() + 10
        while time.monotonic() < connected and any(
            p.pc.connectionState != "connected" for p in published
        ):
            await asyncio.sleep(0.05)
        print(json.dumps({"ready": len(published)}), flush=True)
        await clients.pace(published, config["seconds"])
        sent = sum(p.position for p in published)
        for p in published:
            await p.pc.close()
    return {"published": len(published), "failed": failed, "frames_stepped": sent}


async def _receivers(config: dict[str, Any]) -> dict[str, Any]:
    """Open ``count`` WHEP sessions, let them receive for ``seconds``, count packets each got."""
    receivers: list[clients.Receiver] = []
    async with aiohttp.ClientSession(base_url=config["base_url"]) as http:
        for _ in range(config["count"]):
            receivers.append(await clients.receive(http, config["whep"], config["token"]))
        connected = time.monotonic() + 20
        while time.monotonic() < connected and any(
            r.pc.connectionState != "connected" for r in receivers
        ):
            await asyncio.sleep(0.05)
        print(json.dumps({"ready": len(receivers)}), flush=True)
        await asyncio.sleep(config["warmup"])
        start = [r.packets for r in receivers]
        await asyncio.sleep(config["seconds"])
        got = [r.packets - s for r, s in zip(receivers, start, strict=True)]
        for r in receivers:
            await r.pc.close()
    return {"receivers": len(receivers), "packets": got}


def main() -> None:
    role, config = sys.argv[1], json.loads(sys.argv[2])
    runner = {"publish": _publishers, "receive": _receivers}[role]
    print(json.dumps(asyncio.run(runner(config))), flush=True)


if __name__ == "__main__":
    main()
