"""The recorder end to end: real speakers, the real stack, the files FFmpeg and PyAV read back.

Two headless Chromium speakers publish espeak-ng speech over WHIP (Ann below
1.5 kHz, Ben above 2.5 kHz, so the band tells who is talking). The test
switches each one's microphone track on and off on a schedule, so the room
has turns and silences at known wall-clock times. The recorder (its own
process, following the gateway) stores the room; when the host ends it, the
finished files must be as long as the room was live, valid for ``ffprobe``,
and hold each turn where it happened on the room's clock (offsets from the
room's start: what chapters and speaker turns are measured in).

The second test SIGKILLs the recorder mid-room and starts a new one: the
recording may lose at most the chunk that was being filled.
"""

import asyncio
import contextlib
import io
import json
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import jsonschema
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from infra.localstack import Stack
from media.recording import chunk_index_of, chunks_prefix, decode_chunk
from schemas.export import load
from schemas.recording import CHUNK_FRAMES, podcast_key, recording_id_for, web_key
from tests.conftest import RecorderProcess
from tests.kafka_client import consume
from tests.media_clients import (
    Pcm,
    act,
    band_energy,
    join,
    launch_speaker,
    live_room,
    media_page,
    speech_packets,
    speech_wav,
    talking,
)

pytestmark = pytest.mark.slow

ROOM_SECONDS = 60.0
TEXT = "Every word of this room is kept, chunk after chunk, in storage, and nothing is lost"
VOICES = {
    "rec-ann": ("en", 30, ["sinc", "-1500"]),
    "rec-ben": ("en+f3", 90, ["sinc", "2500"]),
}
LOW, HIGH = (80.0, 1400.0), (3000.0, 8000.0)
SCHEDULE = (
    ("rec-ann", 2.0, 10.0),
    ("rec-ben", 13.0, 21.0),
    ("rec-ann", 25.0, 31.0),
    ("rec-ben", 34.0, 40.0),
    ("rec-ann", 44.0, 49.0),
)
"""Who talks when, in seconds from the moment both speakers publish (their mics off)."""
MARGIN = 0.4
"""Seconds of tolerance at each turn's edges: the browser's capture, the network and the
mixer's jitter buffer (and the room clock's resolution) all sit inside it."""
BLOCK = 4800
"""100 ms at 48 kHz."""
VOICED = 0.004
"""RMS of a 100 ms block with speech in it (the voices peak at -12 dBFS; most blocks of a
turn are 0.01 to 0.05, the pauses between words less)."""
SILENT = 0.002
"""RMS no 100 ms block between turns may reach (the room is digital silence there)."""


def objects(stack: Stack) -> Path:
    return stack.data_dir / "objects"


async def finished_event(stack: Stack, room_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The room's ``RecordingFinished`` on ``stoa.media-events``, once the recorder appends it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await recording_events(stack, room_id):
            if event["type"] == "RecordingFinished":
                return event
        await asyncio.sleep(0.5)
    raise AssertionError(f"no RecordingFinished for room {room_id} within {timeout}s")


async def recording_events(stack: Stack, room_id: str) -> list[dict[str, Any]]:
    records = await asyncio.to_thread(consume, stack.broker.bootstrap, "stoa.media-events")
    events = [json.loads(r["payload"]) for r in records if r["key"] == room_id]
    return [e for e in events if e["type"].startswith("Recording")]


async def room_times(http: aiohttp.ClientSession, room_id: str) -> tuple[float, float]:
    """``started_at`` and ``ended_at`` of the room, as Unix seconds."""
    async with http.get(f"/v1/rooms/{room_id}") as response:
        body = await response.json()
    return (
        datetime.fromisoformat(body["started_at"]).timestamp(),
        datetime.fromisoformat(body["ended_at"]).timestamp(),
    )


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


def decode(path: Path) -> Pcm:
    """The whole file as float32 mono samples at 48 kHz; a decoding error fails the test."""
    with av.open(io.BytesIO(path.read_bytes()), "r") as container:
        parts = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(parts).astype(np.float32)


def blocks(pcm: Pcm, start: float, end: float) -> list[Pcm]:
    """The 100 ms blocks of ``pcm`` between two room times (seconds)."""
    first, last = max(0, int(start * 10)), min(len(pcm) // BLOCK, int(end * 10))
    return [pcm[i * BLOCK : (i + 1) * BLOCK] for i in range(first, last)]


def rms(block: Pcm) -> float:
    return float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))


def validate(events: list[dict[str, Any]]) -> None:
    schemas = load()
    for event in events:
        jsonschema.Draft202012Validator(schemas[f"event.{event['type']}"]).validate(event)


async def set_mic(page: Page, on: bool) -> float:
    """Switch the page's microphone track; returns when (wall clock) it took effect."""
    before = time.time()
    await page.evaluate("(on) => { window.speak.stream.getAudioTracks()[0].enabled = on; }", on)
    return (before + time.time()) / 2


async def play_schedule(pages: dict[str, Page], t0: float) -> list[tuple[str, float, float]]:
    """Run ``SCHEDULE`` from ``t0``; returns each turn as it really happened (wall clock)."""
    turns = []
    for name, start, end in SCHEDULE:
        await asyncio.sleep(max(0.0, t0 + start - time.time()))
        on = await set_mic(pages[name], True)
        await asyncio.sleep(max(0.0, t0 + end - time.time()))
        off = await set_mic(pages[name], False)
        turns.append((name, on, off))
    return turns


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = Path(tmp_path_factory.mktemp("recording-speech"))
    return {
        name: speech_wav(folder / f"{name}.wav", TEXT, voice, pitch, band)
        for name, (voice, pitch, band) in VOICES.items()
    }


@contextlib.asynccontextmanager
async def browser_pages(speech: dict[str, Path], base_url: str) -> AsyncIterator[dict[str, Page]]:
    """One Chromium per speaker (the fake microphone is per process), on the ``/media`` page."""
    pw = await async_playwright().start()
    browsers = await asyncio.gather(*(launch_speaker(pw, speech[n]) for n in VOICES))
    try:
        yield {n: await media_page(b, base_url) for n, b in zip(VOICES, browsers, strict=True)}
    finally:
        for browser in browsers:
            await browser.close()
        await pw.stop()


async def test_a_room_is_recorded_on_its_own_clock_and_finished_into_two_files(
    http: aiohttp.ClientSession,
    stack: Stack,
    recorder: RecorderProcess,
    speech: dict[str, Path],
) -> None:
    async with browser_pages(speech, stack.gateway_url) as pages:
        room_id, host_token = await live_room(http, "rec-host", *VOICES, title="recorded")
        started_wall = time.time()
        for name, page in pages.items():
            joined = await join(http, room_id, name)
            await page.evaluate(
                "async ([u, t]) => { window.speak = await stoa.publish(u, t, true);"
                " window.speak.stream.getAudioTracks()[0].enabled = false; }",
                [joined.body["publish"]["whip"], joined.media_token],
            )
        turns = await play_schedule(pages, time.time())
        await asyncio.sleep(max(0.0, started_wall + ROOM_SECONDS - time.time()))
        await act(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
        event = await finished_event(stack, room_id)
    started, ended = await room_times(http, room_id)
    live_seconds = ended - started

    # the log: started once, every chunk stored, finished with the files' sizes
    events = await recording_events(stack, room_id)
    validate(events)
    assert [e["type"] for e in events].count("RecordingStarted") == 1
    assert events[0]["type"] == "RecordingStarted"
    data = event["data"]
    rid = recording_id_for(room_id)
    assert data["recording_id"] == str(rid) and event["actor_id"] == "stoa-recorder"
    assert abs(data["duration_seconds"] - live_seconds) <= 0.01 * live_seconds, (data, live_seconds)
    chunk_keys = sorted((objects(stack) / chunks_prefix(rid)).iterdir())
    indexes = {e["data"]["index"] for e in events if e["type"] == "RecordingSegmentStored"}
    assert indexes == {chunk_index_of(str(k)) for k in chunk_keys}
    assert max(indexes) == int(data["duration_seconds"] / 0.02 - 1) // CHUNK_FRAMES
    first_audio = turns[0][1] - started  # before the speakers published: missing, silent
    assert data["missing_seconds"] < first_audio

    # the files: what ffprobe makes of them
    web, podcast = objects(stack) / web_key(rid), objects(stack) / podcast_key(rid)
    assert (data["uri"], data["web_uri"]) == (podcast_key(rid), web_key(rid))
    assert (data["bytes"], data["web_bytes"]) == (podcast.stat().st_size, web.stat().st_size)
    for path, codec in ((web, "opus"), (podcast, "aac")):
        probed = probe(path)
        [stream] = probed["streams"]
        assert (stream["codec_name"], stream["channels"]) == (codec, 1)
        assert float(probed["format"]["duration"]) == pytest.approx(
            data["duration_seconds"], abs=0.05
        )

    # the sound: each turn where it happened, by band, and silence between the turns
    pcm = decode(web)
    for name, on, off in turns:
        speaking = blocks(pcm, on - started + MARGIN, off - started - MARGIN)
        voiced = [b for b in speaking if rms(b) > VOICED]
        assert len(voiced) >= 0.6 * len(speaking), f"{name} is missing from {on - started:.1f}s"
        low = sum(band_energy(b, *LOW) for b in voiced)
        high = sum(band_energy(b, *HIGH) for b in voiced)
        louder, quieter = (low, high) if name == "rec-ann" else (high, low)
        assert louder > 20 * quieter, f"{name}'s turn at {on - started:.1f}s is someone else"
    edges = [0.0, *[t for _, on, off in turns for t in (on - started, off - started)]]
    edges.append(len(pcm) / 48000)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        quiet = blocks(pcm, start + MARGIN, end - MARGIN)
        loudest = max((rms(b) for b in quiet), default=0.0)
        assert loudest < SILENT, f"sound between {start:.1f}s and {end:.1f}s ({loudest:.4f})"


async def test_a_killed_recorder_loses_at_most_the_chunk_it_was_filling(
    http: aiohttp.ClientSession,
    stack: Stack,
    recorder: RecorderProcess,
    tmp_path: Path,
) -> None:
    packets = speech_packets(tmp_path, TEXT)
    room_id, host_token = await live_room(http, "rec-host-2", "rec-talker", title="crash")
    started_wall = time.time()
    async with talking(http, room_id, "rec-talker", packets):
        await asyncio.sleep(max(0.0, started_wall + 20.0 - time.time()))
        recorder.kill()
        killed_at = time.time()
        await asyncio.to_thread(recorder.start)
        restarted_at = time.time()
        await asyncio.sleep(max(0.0, started_wall + 35.0 - time.time()))
        await act(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
    event = await finished_event(stack, room_id)
    data = event["data"]
    rid = recording_id_for(room_id)

    # what the store holds: every seq from the first heard on, but for at most one chunk
    present: set[int] = set()
    for path in sorted((objects(stack) / chunks_prefix(rid)).iterdir()):
        index = chunk_index_of(f"{chunks_prefix(rid)}{path.name}")
        assert index is not None
        present |= {r.seq for r in decode_chunk(path.read_bytes(), index).records}
    frames = round(data["duration_seconds"] / 0.02)
    assert max(present) == frames - 1
    lost = sorted(set(range(min(present), frames)) - present)
    assert len(lost) <= CHUNK_FRAMES + 5, f"{len(lost)} frames lost across the restart"
    if lost:
        assert lost[-1] - lost[0] < CHUNK_FRAMES + 5, "the loss is not one stretch"
    assert data["missing_seconds"] == pytest.approx((frames - len(present)) * 0.02, abs=0.001)
    assert data["missing_seconds"] <= min(present) * 0.02 + 5.0 + 0.1
    started, _ = await room_times(http, room_id)
    assert restarted_at - killed_at < 10.0
    later = [e for e in await recording_events(stack, room_id) if e["type"] != "RecordingStarted"]
    assert any(e["data"].get("start_seconds", 0) > killed_at - started for e in later), (
        "the restarted recorder stored nothing"
    )

    # the file: decodes without error, speech where frames were kept, silence where lost
    pcm = decode(objects(stack) / web_key(rid))
    assert len(pcm) >= frames * 960 - 960
    heard = [s for s in range(min(present), frames) if s in present]
    loud = [rms(pcm[s * 960 : (s + 1) * 960]) > VOICED for s in heard]
    assert sum(loud) >= 0.5 * len(loud), "the recording is mostly silence"
    for seq in lost[2:-2]:  # (the codec's tail may reach a frame or two into a hole)
        assert rms(pcm[seq * 960 : (seq + 1) * 960]) < SILENT
