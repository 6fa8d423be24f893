"""Transcript search and the transcript in the app, in Chromium, on a real recording.

A host talks in a recorded room that then ends; three transcript lines for it go on
``stoa.transcripts`` as the speech-to-text worker publishes them, and the real archiver
indexes them. On a phone-sized home page the host searches a word in another case: the
result names the room, the speaker and the time, with the word marked; pressing it opens
the recording playing from that moment. There, the transcript lists the lines; pressing one
seeks there and plays; ticking two lines makes a clip of exactly their span.
"""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from events.producer import LogProducer
from infra.localstack import Stack
from schemas import events as e
from schemas.recording import recording_id_for
from schemas.topics import TRANSCRIPTS
from tests.app_pages import PHONE, app_page, sign_in
from tests.conftest import RecorderProcess
from tests.media_clients import act, live_room, speech_packets, talking

pytestmark = pytest.mark.slow

HOST = "search-page-host"
WORD = f"okapi{uuid.uuid4().hex[:6]}"
LINES = [
    (1.0, 3.0, f"Hello and welcome, {WORD} fans."),
    (3.0, 5.0, "This is the second line."),
    (5.0, 7.0, "And this is the third."),
]
TOLERANCE = 0.5


@pytest.fixture(scope="module")
def archiver(stack: Stack) -> Iterator[None]:
    """The real archiver on the shared stack, for this module only (chDB: one at a time)."""
    process = stack.start_archiver()
    try:
        stack.archive_url()
        yield
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


async def transcribed_recording(stack: Stack, folder: Any) -> tuple[str, str]:
    """A finished recording with three transcript lines, searchable: (room id, token)."""
    packets = [*speech_packets(folder, "Hello and welcome, friends."), *([None] * 50)]
    async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
        room_id, token = await live_room(http, HOST, title="Okapi hour")
        async with talking(http, room_id, HOST, packets):
            await asyncio.sleep(9)
        await act(http, token, "POST", f"/v1/rooms/{room_id}/end")
    producer = await LogProducer(stack.broker.bootstrap, "test-asr").start()
    try:
        for start, end, text in LINES:
            data = e.TranscriptSegmentData(
                segment_id=uuid.uuid4(), text=text, start_seconds=start, end_seconds=end,
                speaker_id=HOST,
            )  # fmt: skip
            event = e.TranscriptSegment(
                event_id=uuid.uuid4(), room_id=room_id, actor_id="stoa-asr",
                occurred_at=datetime.now(UTC), data=data,
            )  # fmt: skip
            await producer.send(TRANSCRIPTS.name, room_id, event)
    finally:
        await producer.stop()
    return room_id, token


def until(check: Callable[[], bool], what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.2)


def ready_and_indexed(stack: Stack, token: str, room_id: str) -> bool:
    auth = {"Authorization": f"Bearer {token}"}
    rid = recording_id_for(room_id)
    view = httpx.get(f"{stack.gateway_url}/v1/recordings/{rid}", headers=auth, timeout=10)
    if view.json().get("status") != "ready" or view.json().get("transcript_segments") != 3:
        return False
    found = httpx.get(f"{stack.gateway_url}/v1/search", params={"q": WORD}, timeout=10)
    return found.status_code == 200 and len(found.json()["items"]) == 1


async def player_time(page: Page) -> float:
    now: float = await page.eval_on_selector("#player", "(a) => a.currentTime")
    return now


async def until_time(page: Page, check: Callable[[float], bool], timeout: float = 8.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        now = await player_time(page)
        if check(now):
            return now
        assert time.monotonic() < deadline, f"the player's currentTime stayed at {now}"
        await page.wait_for_timeout(50)


async def test_a_search_hit_opens_the_recording_there_and_its_transcript_seeks_and_clips(
    stack: Stack,
    recorder: RecorderProcess,
    archiver: None,
    browser: Browser,
    tmp_path: Any,
) -> None:
    room_id, token = await transcribed_recording(stack, tmp_path)
    rid = recording_id_for(room_id)
    await asyncio.to_thread(
        until, lambda: ready_and_indexed(stack, token, room_id), "the recording and its index"
    )
    async with app_page(browser, stack.gateway_url, "searcher", viewport=PHONE) as app:
        page = app.page
        await app.goto("/")
        await sign_in(app, HOST)

        # a word said in the room, typed in capitals
        await page.fill("#search-q", WORD.upper())
        await page.click("#search-btn")
        hit = page.locator("#search-results li")
        await expect(hit).to_have_count(1)
        await expect(hit).to_contain_text("Okapi hour")
        await expect(hit).to_contain_text(f"{HOST}: Hello and welcome, {WORD} fans.")
        await expect(hit).to_contain_text("at 0:01, in the recording")
        await expect(hit.locator("mark")).to_have_text(WORD)
        await expect(page.locator("#search-summary")).to_have_text("1 moment found.")
        await app.assert_fits("search results on a phone")
        await app.assert_accessible("home page with search results")
        await app.shot("search-results-phone")

        # the hit opens the recording at that moment
        await hit.get_by_role("link", name="Okapi hour").click()
        await page.wait_for_url(f"**/recordings/{rid}?t=1")
        await until_time(page, lambda t: abs(t - LINES[0][0]) <= TOLERANCE)

        # the transcript: a line per segment, pressing one plays from there
        lines = page.locator("#transcript li")
        await expect(lines).to_have_count(3)
        await expect(lines.nth(1)).to_contain_text(f"0:03 {HOST}: This is the second line.")
        await lines.nth(1).get_by_role("button").click()
        await until_time(page, lambda t: abs(t - LINES[1][0]) <= TOLERANCE)
        await until_time(page, lambda t: t > LINES[1][0] + 0.4)  # it plays
        await expect(lines.nth(1).get_by_role("button")).to_have_attribute("aria-current", "true")
        await page.eval_on_selector("#player", "(a) => a.pause()")

        # two lines ticked: a clip of exactly their span
        await lines.nth(0).get_by_role("checkbox").check()
        await lines.nth(1).get_by_role("checkbox").check()
        await expect(page.locator("#transcript-selection")).to_have_text(
            "Clip 0:01\N{EN DASH}0:05."
        )
        await page.click("#transcript-clip-btn")
        clip = page.locator("#clips li")
        await expect(clip).to_have_count(1)
        await expect(clip).to_contain_text("0:01\N{EN DASH}0:05")
        await expect(page.locator("#notice")).to_contain_text("created")
        await expect(lines.nth(0).get_by_role("checkbox")).not_to_be_checked()
        await app.assert_fits("the transcript on a phone")
        await app.assert_accessible("replay page with its transcript")
        await app.shot("recording-transcript-phone")

    view = httpx.get(
        f"{stack.gateway_url}/v1/recordings/{rid}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert [(c["start_seconds"], c["end_seconds"]) for c in view["clips"]] == [(1.0, 5.0)]
