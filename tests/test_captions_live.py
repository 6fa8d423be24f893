"""Live captions end to end: a talking room, a real speech-to-text worker, real listeners.

The host publishes espeak-ng speech over WHIP (aiortc) to the gateway, which
mixes it and appends the mix to ``stoa.room-audio``; a speech-to-text worker
process (Whisper tiny.en, the default engine) transcribes it and its captions
come back through ``stoa.captions`` to a WebSocket listener of the gateway and
to one of a relay. Then the worker is SIGKILLed: listeners are told captions
are unavailable, and a second worker takes the room over; a person listening on the
room page in Chromium reads the captions, hides and shows them, and sees "Captions
unavailable" while no worker transcribes the room.
"""

import asyncio
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from infra.localstack import Stack
from infra.settings import Settings
from media import clients
from media.tokens import MediaTokens
from media.urls import listen_url
from tests.app_pages import AppPage, app_page, sign_in
from tests.kafka_client import consume_json
from tests.media_clients import (
    eventually,
    live_room,
    speech_packets,
    stop_worker,
    talking,
)

pytestmark = pytest.mark.slow

TOKENS = MediaTokens(Settings().auth_secret, ttl=600)
TEXT = "The river is calm this morning. We will open the window before the meeting starts."
KEY_WORDS = {"river", "morning", "window", "meeting"}


@dataclass
class TalkingRoom:
    room_id: str
    started: float


@pytest.fixture(scope="module")
def first_worker(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    process = stack.start_asr("asr-a")
    yield process
    stop_worker(process)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def room(
    http: aiohttp.ClientSession,
    first_worker: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TalkingRoom]:
    """A live room whose host says ``TEXT`` over and over for the whole module."""
    folder = Path(tmp_path_factory.mktemp("caption-speech"))
    packets = speech_packets(folder, TEXT, 45)
    room_id, _ = await live_room(http, "cap-host", title="captioned")
    async with talking(http, room_id, "cap-host", packets):
        yield TalkingRoom(room_id, time.time())


def texts_of(listener: clients.WsListener, kind: str) -> list[dict[str, Any]]:
    parsed = (json.loads(t) for t in listener.texts)
    return [m for m in parsed if m.get("type") == kind]


def words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


async def listening(http: aiohttp.ClientSession, base: str, room_id: str, user: str) -> Any:
    listener = clients.WsListener()
    url = listen_url(base, room_id, TOKENS.issue(user, room_id, "listener"))
    return listener, asyncio.create_task(listener.run(http, url))


async def test_listeners_get_partial_then_final_captions_directly_and_through_a_relay(
    stack: Stack,
    http: aiohttp.ClientSession,
    room: TalkingRoom,
    segmenter: subprocess.Popen[bytes],
) -> None:
    relay = await asyncio.to_thread(stack.start_relay)
    direct, direct_task = await listening(http, stack.gateway_url, room.room_id, "cap-direct")
    relayed, relayed_task = await listening(http, relay.url, room.room_id, "cap-relayed")
    try:

        def finals_with_key_words(listener: clients.WsListener) -> bool:
            heard = set().union(*(words(c["text"]) for c in texts_of(listener, "caption")))
            finals = [c for c in texts_of(listener, "caption") if c["final"]]
            return len(finals) >= 2 and len(heard & KEY_WORDS) >= 2

        assert await eventually(lambda: finals_with_key_words(direct), timeout=60), direct.texts
        assert await eventually(lambda: finals_with_key_words(relayed), timeout=20), relayed.texts
        for listener in (direct, relayed):
            captions = texts_of(listener, "caption")
            first_final = next(i for i, c in enumerate(captions) if c["final"])
            assert any(not c["final"] for c in captions[:first_final]), captions[:first_final]
            for caption in captions:
                assert 0 <= caption["start"] <= caption["end"], caption
                # on the room's clock: never later than now, counted from the room's start
                assert caption["end"] <= time.time() - room.started + 120, caption
            for final in (c for c in captions if c["final"]):
                assert final["speaker_id"] == "cap-host", final
                assert final["segment_id"], final
            statuses = [m["status"] for m in texts_of(listener, "captions")]
            assert "live" in statuses, listener.texts
            assert listener.heard, "no audio reached the listener"
        logged = await asyncio.to_thread(consume_json, stack.broker.bootstrap, "stoa.transcripts")
        segments = [e for e in logged if e.get("room_id") == room.room_id]
        assert segments and all(s["type"] == "TranscriptSegment" for s in segments)
        assert {s["data"]["speaker_id"] for s in segments} == {"cap-host"}
        await hls_captions_match(http, room, segments)
    finally:
        direct_task.cancel()
        relayed_task.cancel()
        relay.process.terminate()


async def hls_captions_match(
    http: aiohttp.ClientSession, room: TalkingRoom, segments: list[dict[str, Any]]
) -> None:
    """HLS listeners get the same finals as a WebVTT rendition, cues on the audio's clock."""
    token = TOKENS.issue("cap-hls", room.room_id, "listener")
    base = f"/v1/rooms/{room.room_id}/hls"
    cues: list[str] = []

    async def vtt_cues() -> bool:
        async with http.get(f"{base}/captions.m3u8", params={"token": token}) as response:
            if response.status != 200:
                return False
            playlist = await response.text()
        cues.clear()
        for line in playlist.splitlines():
            if line.endswith(".vtt") or ".vtt?" in line:
                async with http.get(line if "://" in line else f"{base}/{line}") as segment:
                    cues.append(await segment.text())
        return any(s["data"]["segment_id"] in "".join(cues) for s in segments)

    deadline = time.monotonic() + 30
    while not await vtt_cues() and time.monotonic() < deadline:
        await asyncio.sleep(1)
    text = "".join(cues)
    assert text.startswith("WEBVTT") and "X-TIMESTAMP-MAP" in text, text[:300]
    said = next(s["data"] for s in segments if s["data"]["segment_id"] in text)
    block = text[text.index(said["segment_id"]) :].split("\n\n")[0]
    timing = block.splitlines()[1]
    start = timing.split(" --> ")[0]
    hours, minutes, seconds = start.split(":")
    at = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    assert abs(at - said["start_seconds"]) < 0.01, (block, said)
    assert "<v cap-host>" in block, block
    async with http.get(f"{base}/multivariant.m3u8", params={"token": token}) as response:
        assert "TYPE=SUBTITLES" in await response.text()


async def test_a_killed_worker_shows_captions_unavailable_and_a_second_takes_the_room_over(
    stack: Stack,
    http: aiohttp.ClientSession,
    room: TalkingRoom,
    first_worker: subprocess.Popen[bytes],
    browser: Browser,
) -> None:
    listener, task = await listening(http, stack.gateway_url, room.room_id, "cap-kill")
    async with app_page(browser, stack.gateway_url, "captions") as app:
        try:
            await killed_and_taken_over(stack, room, first_worker, listener, app)
        finally:
            task.cancel()


async def killed_and_taken_over(
    stack: Stack,
    room: TalkingRoom,
    first_worker: subprocess.Popen[bytes],
    listener: clients.WsListener,
    app: AppPage,
) -> None:
    """Page and WebSocket listener read captions; the worker dies; a second one comes."""
    page = app.page
    await app.goto(f"/rooms/{room.room_id}")
    await sign_in(app, "cap-page")
    await page.click("#listen-btn")
    lines, status = page.locator("#captions-lines"), page.locator("#captions-status")
    spoken = re.compile("|".join(KEY_WORDS), re.IGNORECASE)
    await expect(lines).to_contain_text(spoken, timeout=60_000)
    await expect(page.locator(".caption-speaker").first).to_contain_text("cap-host")
    await page.click("#captions-toggle")
    await expect(lines).to_be_hidden()
    await expect(page.locator("#captions-toggle")).to_have_attribute("aria-pressed", "false")
    await page.click("#captions-toggle")
    await expect(lines).to_be_visible()
    await app.assert_accessible("room with captions")
    await app.shot("room-captions")
    second: subprocess.Popen[bytes] | None = None
    try:
        assert await eventually(lambda: bool(texts_of(listener, "caption")), timeout=60)
        first_worker.kill()
        first_worker.wait(timeout=10)
        killed_at = len(listener.texts)

        def status_after(index: int, status: str) -> int | None:
            for i, text in enumerate(listener.texts[index:], start=index):
                message = json.loads(text)
                if message.get("type") == "captions" and message.get("status") == status:
                    return i
            return None

        assert await eventually(lambda: status_after(killed_at, "unavailable") is not None, 20), (
            listener.texts[killed_at:]
        )
        unavailable_at = status_after(killed_at, "unavailable")
        assert unavailable_at is not None
        unavailable = json.loads(listener.texts[unavailable_at])
        assert unavailable["reason"], unavailable
        await expect(status).to_have_text("Captions unavailable", timeout=10_000)
        second = await asyncio.to_thread(stack.start_asr, "asr-b")

        def captions_again() -> bool:
            back = status_after(unavailable_at + 1, "live")
            return back is not None and any(
                json.loads(t).get("type") == "caption" and json.loads(t)["final"]
                for t in listener.texts[back:]
            )

        assert await eventually(captions_again, timeout=60), listener.texts[unavailable_at:]
        logged = await asyncio.to_thread(consume_json, stack.broker.bootstrap, "stoa.media-events")
        health = [
            e
            for e in logged
            if e.get("room_id") == room.room_id and e["type"] == "CaptionsHealthChanged"
        ]
        said = [(e["actor_id"], e["data"]["status"]) for e in health]
        assert ("stoa-media", "unavailable") in said, said
        assert ("asr-b", "live") in said, said
        assert said.index(("stoa-media", "unavailable")) < said.index(("asr-b", "live")), said
        await expect(status).not_to_have_text("Captions unavailable", timeout=10_000)
        await page.click("#stop-btn")
    finally:
        if second is not None:
            stop_worker(second)
