"""Test helpers for the media plane: speech files, Chromium speakers, audio analysis.

Chromium's fake microphone plays one WAV file per browser process (the flag
is per process), in a loop. ``/media`` (api/static/media.html) exposes the
page's WHIP/WHEP functions as ``window.stoa``, so the tests drive the same
code a person would.
"""

import asyncio
import contextlib
import subprocess
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt
from playwright.async_api import Browser, Page, Playwright

from events.producer import LogProducer
from media import clients
from media.listen import OpusRecord
from media.opus import FRAME_SAMPLES, SAMPLE_RATE
from schemas.presence import PresenceBatch, presence_event
from schemas.topics import PRESENCE
from tests.browser import CHROMIUM, MEDIA_ARGS

Pcm = npt.NDArray[np.float32]

BLOCK = 480
"""Envelope resolution: 10 ms."""


def speech_wav(path: Path, text: str, voice: str, pitch: int, sox_filter: list[str]) -> Path:
    """espeak-ng speech, resampled to 48 kHz mono 16-bit (Chromium's fake device wants that).

    The file is padded with silence to a whole number of 10 ms blocks, so the
    loop period the browser plays is exactly the one the analysis assumes.
    """
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(raw), text], check=True)
    resample = ["-r", "48000", "-c", "1", "-b", "16"]
    subprocess.run(["sox", str(raw), *resample, str(path), *sox_filter, "norm", "-12"], check=True)
    with wave.open(str(path), "rb") as f:
        params, frames = f.getparams(), f.readframes(f.getnframes())
    frames += b"\x00\x00" * (-(len(frames) // 2) % BLOCK)
    with wave.open(str(path), "wb") as f:
        f.setparams(params)
        f.writeframes(frames)
    return path


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the supervisor stops it; a worker still busy after 20 s is killed."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def launch_speaker(pw: Playwright, wav: Path) -> Browser:
    return await pw.chromium.launch(
        executable_path=CHROMIUM,
        args=[*MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}"],
    )


async def media_page(browser: Browser, base_url: str) -> Page:
    page = await browser.new_page()
    await page.goto(f"{base_url}/media")
    return page


async def page_publish(page: Page, whip_url: str, token: str) -> None:
    await page.evaluate(
        "async ([u, t]) => { window.speak = await stoa.publish(u, t, true); }", [whip_url, token]
    )


async def page_listen(page: Page, whep_url: str, token: str) -> None:
    await page.evaluate(
        "async ([u, t]) => { window.heard = await stoa.listen(u, t, null); }", [whep_url, token]
    )


async def page_stats(page: Page, session: str) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate(f"stoa.rtpStats(window.{session}.pc)")
    return stats


@dataclass
class Joined:
    user_id: str
    user_token: str
    media_token: str
    body: dict[str, Any]


async def dev_token(http: aiohttp.ClientSession, user_id: str) -> str:
    async with http.post("/v1/auth/dev-token", json={"user_id": user_id}) as response:
        token: str = (await response.json())["token"]
        return token


async def join(http: aiohttp.ClientSession, room_id: str, user_id: str) -> Joined:
    user_token = await dev_token(http, user_id)
    headers = {"Authorization": f"Bearer {user_token}"}
    async with http.post(f"/v1/rooms/{room_id}/join", headers=headers) as response:
        body = await response.json()
        assert response.status == 200, body
    return Joined(user_id, user_token, body["token"], body)


async def act(http: aiohttp.ClientSession, token: str, method: str, path: str) -> dict[str, Any]:
    async with http.request(method, path, headers={"Authorization": f"Bearer {token}"}) as r:
        body: dict[str, Any] = await r.json()
        assert r.status in (200, 201), body
        return body


async def live_room(
    http: aiohttp.ClientSession, host: str, *speakers: str, title: str = "a room"
) -> tuple[str, str]:
    """A room started now by ``host``, ``speakers`` promoted: (room id, host's user token)."""
    token = await dev_token(http, host)
    async with http.post(
        "/v1/rooms",
        json={"title": title, "start_now": True},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        room_id: str = (await response.json())["room_id"]
    for speaker in speakers:
        await act(http, token, "PUT", f"/v1/rooms/{room_id}/speakers/{speaker}")
    return room_id, token


def speech_packets(folder: Path, text: str, pitch: int = 50) -> list[bytes | None]:
    """espeak-ng speech as 20 ms Opus packets, for an aiortc publisher to play."""
    wav = speech_wav(folder / f"speech-{pitch}.wav", text, "en", pitch, [])
    return clients.encode_packets(clients.read_pcm(str(wav)))


@contextlib.asynccontextmanager
async def talking(
    http: aiohttp.ClientSession,
    room_id: str,
    speaker: str,
    packets: Sequence[bytes | None],
    seconds: float = 600,
) -> AsyncIterator[Joined]:
    """``speaker`` (on stage) publishes ``packets`` in a loop for the block's duration."""
    joined = await join(http, room_id, speaker)
    publisher = await clients.publish(
        http, joined.body["publish"]["whip"], joined.media_token, packets
    )
    pacing = asyncio.create_task(clients.pace([publisher], seconds))
    try:
        yield joined
    finally:
        pacing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacing
        await publisher.pc.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``predicate`` becomes true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


# --- audio analysis ----------------------------------------------------------


def decode_frames(records: Sequence[OpusRecord]) -> list[Pcm]:
    """One 960-sample array per record (in ``seq`` order), decoded with one continuous decoder."""
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "mono"
    frames: list[Pcm] = []
    for record in sorted(records, key=lambda r: r.seq):
        pcm = np.concatenate(
            [f.to_ndarray().reshape(-1) for f in decoder.decode(av.Packet(record.payload))]
        )
        if pcm.dtype == np.int16:
            pcm = pcm.astype(np.float32) / 32768.0
        frames.append(np.resize(pcm.astype(np.float32), FRAME_SAMPLES))
    return frames


def band_energy(frame: Pcm, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(frame)) ** 2
    freqs = np.fft.rfftfreq(len(frame), 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum())


def block_energy(pcm: Pcm) -> npt.NDArray[np.float64]:
    blocks = len(pcm) // BLOCK
    shaped = pcm[: blocks * BLOCK].astype(np.float64).reshape(blocks, BLOCK)
    return np.asarray((shaped**2).mean(axis=1))


def _corr(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def align_loops(mix: Pcm, sources: Sequence[Pcm], passes: int = 3) -> list[int]:
    """The phase (in samples) of each looping source in ``mix``, by envelope cross-correlation.

    Energies of independent voices add, so the phases maximize the correlation
    of the mix's block energies with the sum of the sources' block energies:
    each phase alone first, then coordinate ascent with the others fixed.
    """
    target = block_energy(mix)
    n = len(target)
    loops = []
    for source in sources:
        period = len(source) // BLOCK
        reps = n // period + 3
        loops.append((period, block_energy(np.tile(source[: period * BLOCK], reps))))

    def candidate(i: int, phase: int) -> npt.NDArray[np.float64]:
        return loops[i][1][phase : phase + n]

    def best(i: int, others: npt.NDArray[np.float64]) -> int:
        scores = [_corr(target, others + candidate(i, p)) for p in range(loops[i][0])]
        return int(np.argmax(scores))

    phases = [best(i, np.zeros(n)) for i in range(len(loops))]
    for _ in range(passes):
        for i in range(len(loops)):
            others = np.zeros(n)
            for j in range(len(loops)):
                if j != i:
                    others += candidate(j, phases[j])
            phases[i] = best(i, others)
    return [p * BLOCK for p in phases]


def reference_mix(sources: Sequence[Pcm], phases: Sequence[int], samples: int) -> Pcm:
    """What the room should sound like: each looping source from its phase, summed."""
    out = np.zeros(samples, dtype=np.float32)
    for source, phase in zip(sources, phases, strict=True):
        period = (len(source) // BLOCK) * BLOCK
        looped = np.tile(source[:period], (phase + samples) // period + 2)
        out += looped[phase : phase + samples]
    return out


def envelope_correlation(a: Pcm, b: Pcm) -> float:
    """Pearson correlation of the 10 ms RMS envelopes."""
    n = min(len(a), len(b))
    return _corr(np.sqrt(block_energy(a[:n])), np.sqrt(block_energy(b[:n])))


class Audience:
    """Joins and leaves of made-up listeners, appended the way an edge appends them."""

    def __init__(self, producer: LogProducer, room_id: str) -> None:
        self.producer, self.room_id = producer, room_id
        self.edge = f"test-edge-{uuid.uuid4().hex[:6]}"
        self.seq = 0

    async def change(self, users: range, joined: bool) -> None:
        events = [presence_event(self.room_id, f"crowd-{u}", joined) for u in users]
        for start in range(0, len(events), 500):
            self.seq += 1
            batch = PresenceBatch(
                batch_id=uuid.uuid4(),
                edge_id=self.edge,
                batch_seq=self.seq,
                room_id=self.room_id,
                events=tuple(events[start : start + 500]),
            )
            await self.producer.send(PRESENCE.name, self.room_id, batch)
