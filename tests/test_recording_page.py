"""Recordings in the app, on a real recording: the room page, the home list and the replay page.

A host talks in a live room (an aiortc publisher looping espeak-ng speech with a
second of silence, so the room has several speaker turns) while the stack's
recorder stores it; a chapter is marked partway; the host ends the room and
the recorder finishes the files. Then, in Debian's Chromium, the host finds the
recording from the room page, plays it from a chapter and from a speaker turn,
cuts a clip from a range taken off the player, publishes it and deletes it,
while a second signed-in person is refused (the API's own sentence) until it is
published and told it is gone after. The pages must not reach other hosts nor
log errors (the refusals' own "Failed to load resource" lines excepted).
"""

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Route, expect

from infra.localstack import Stack
from schemas.recording import recording_id_for
from tests.app_pages import PHONE, app_page, sign_in
from tests.conftest import RecorderProcess
from tests.media_clients import live_room, speech_packets, talking

pytestmark = pytest.mark.slow

HOST = "rec-page-host"
GUEST = "rec-page-guest"
TALK_SECONDS = 11.0
CHAPTER_AT = 5.0
SEEK_TOLERANCE = 0.5
NOT_PUBLISHED = r"Failed to load resource: the server responded with a status of 403"
GONE = r"Failed to load resource: the server responded with a status of 404"


async def post(http: aiohttp.ClientSession, token: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(path, json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status in (200, 201), answer
        return answer


async def ready(http: aiohttp.ClientSession, token: str, rid: uuid.UUID) -> dict[str, Any]:
    """The recording once the recorder finished it (a second or two after the end)."""
    deadline = time.monotonic() + 30
    while True:
        async with http.get(
            f"/v1/recordings/{rid}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            body: dict[str, Any] = await response.json()
        if body.get("status") == "ready":
            return body
        assert time.monotonic() < deadline, f"the recording is not ready: {body}"
        await asyncio.sleep(0.3)


def near(at: float, t: float) -> bool:
    return abs(t - at) < 0.05


async def player_time(page: Page, selector: str = "#player") -> float:
    now: float = await page.eval_on_selector(selector, "(a) => a.currentTime")
    return now


async def until_time(
    page: Page, check: Callable[[float], bool], selector: str = "#player", timeout: float = 8.0
) -> float:
    """Wait until the player's ``currentTime`` satisfies ``check``; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        now = await player_time(page, selector)
        if check(now):
            return now
        assert time.monotonic() < deadline, f"{selector}'s currentTime stayed at {now}"
        await page.wait_for_timeout(50)


def still_processing() -> Callable[[Route], Awaitable[None]]:
    """Answer a recording's manifest as it is just after the end: no files yet."""

    async def handle(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        body.update(status="processing", audio=None, podcast=None, duration_seconds=None)
        await route.fulfill(response=response, json=body)

    return handle


async def test_a_host_replays_clips_publishes_and_deletes_a_real_recording(
    stack: Stack,
    http: aiohttp.ClientSession,
    recorder: RecorderProcess,
    browser: Browser,
    tmp_path: Path,
) -> None:
    base = stack.gateway_url
    title = f"Recorded evening {uuid.uuid4().hex[:6]}"
    packets = [*speech_packets(tmp_path, "Welcome to the recorded room"), *([None] * 60)]
    room_id, token = await live_room(http, HOST, title=title)
    rid = recording_id_for(room_id)
    async with (
        app_page(browser, base, "rec-host") as host,
        app_page(browser, base, GUEST, viewport=PHONE, allowed=(NOT_PUBLISHED, GONE)) as guest,
    ):
        # while live: everyone is told the room is recorded; the host sees the setting
        async with talking(http, room_id, HOST, packets):
            started = time.monotonic()
            await host.goto(f"/rooms/{room_id}")
            await sign_in(host, HOST)
            await expect(host.page.locator("#record-toggle")).to_be_checked()
            await expect(host.page.locator("#recording-note")).to_have_text(
                "This room is being recorded."
            )
            await guest.goto(f"/rooms/{room_id}")
            await sign_in(guest, GUEST)
            await expect(guest.page.locator("#recording-note")).to_be_visible()
            await expect(guest.page.locator("#record-toggle-row")).to_be_hidden()
            await asyncio.sleep(max(0.0, started + CHAPTER_AT - time.monotonic()))
            await post(http, token, f"/v1/rooms/{room_id}/chapters", {"title": "Questions"})
            await asyncio.sleep(max(0.0, started + TALK_SECONDS - time.monotonic()))
        await post(http, token, f"/v1/rooms/{room_id}/end")
        rec = await ready(http, token, rid)
        assert len(rec["turns"]) >= 2, rec["turns"]
        [chapter] = rec["chapters"]

        # the host finds it from the room page; the replay page is first told it is being
        # prepared (as it is for a second or two after the end), then asks again by itself
        link = host.page.locator("#recording-link")
        await expect(link).to_have_text("Play the recording", timeout=10_000)
        await expect(host.page.locator("#recording-note")).to_be_hidden()
        await host.context.route(f"**/v1/recordings/{rid}", still_processing(), times=1)
        await link.click()
        await host.page.wait_for_url(f"**/recordings/{rid}")
        page = host.page
        await expect(page.locator("#rec-status")).to_have_text("Being prepared")
        await expect(page.locator("#rec-banner")).to_contain_text("The recording is being prepared")
        await expect(page.locator("#player-box")).to_be_hidden()
        await expect(page.locator("#notice")).to_have_text(
            "The recording is ready to play.", timeout=5_000
        )
        await expect(page.locator("#rec-title")).to_have_text(title)
        await expect(page.locator("#rec-status")).to_have_text("Ready")
        await expect(page.locator("#rec-published")).to_have_text("Private")
        await expect(page.locator("#rec-host")).to_have_text(f"Hosted by {HOST}")
        await expect(page.locator("#download")).to_have_text("Download for podcast apps (.m4a)")
        turns = page.get_by_role("button", name=re.compile(rf"^{HOST} speaks at \d+:\d\d$"))
        await expect(turns).to_have_count(len(rec["turns"]))
        assert await page.locator("#timeline [role=toolbar]").get_attribute("aria-label") == (
            "Speaker turns"
        )
        await host.shot("recording-host")
        await host.assert_accessible("replay page, host view")

        # a chapter seeks and plays
        offset = chapter["offset_seconds"]
        minute, second = divmod(round(offset), 60)
        chapter_button = page.get_by_role(
            "button", name=f"Chapter: Questions at {minute}:{second:02d}", exact=True
        )
        await chapter_button.click()
        await until_time(page, lambda t: abs(t - offset) <= SEEK_TOLERANCE)
        await until_time(page, lambda t: t > offset + 0.4)  # it plays
        await expect(chapter_button).to_have_attribute("aria-current", "true")

        # a speaker turn seeks there; the keyboard moves between turns
        await page.eval_on_selector("#player", "(a) => a.pause()")
        first = rec["turns"][0]["start"]
        await turns.first.click()
        await until_time(page, lambda t: abs(t - first) <= SEEK_TOLERANCE)
        await page.keyboard.press("ArrowRight")
        await expect(turns.nth(1)).to_be_focused()
        await page.keyboard.press("Enter")
        second_turn = rec["turns"][1]["start"]
        await until_time(page, lambda t: abs(t - second_turn) <= SEEK_TOLERANCE)

        # a clip from a range taken off the player
        for at, button in ((2.0, "#clip-start-here"), (5.0, "#clip-end-here")):
            await page.eval_on_selector("#player", "(a, t) => { a.currentTime = t; }", at)
            await until_time(page, partial(near, at))
            await page.click(button)
        await expect(page.locator("#clip-start")).to_have_value("0:02")
        await expect(page.locator("#clip-end")).to_have_value("0:05")
        await page.fill("#clip-title", "The welcome")
        await page.click("#clip-btn")
        clip = page.locator("#clips li", has_text="The welcome")
        await expect(clip).to_contain_text("0:02\N{EN DASH}0:05")
        await expect(page.locator("#notice")).to_contain_text("Clip “The welcome” created")
        clip_player = "#clips li audio"
        length = await host.until(
            "document.querySelector('#clips li audio').duration",
            lambda d: isinstance(d, (int, float)) and 0 < d < 100,
        )
        assert abs(length - 3.0) <= 0.3, length
        await page.eval_on_selector(clip_player, "(a) => a.play()")
        await until_time(page, lambda t: t > 0.3, selector=clip_player)
        await page.eval_on_selector(clip_player, "(a) => a.pause()")

        # unpublished: another person is refused with the API's sentence
        await guest.goto(f"/recordings/{rid}")
        await expect(guest.page.locator("#alert")).to_have_text(
            "Only the host and co-hosts can hear it until it is published."
        )
        await expect(guest.page.locator("#player-box")).to_be_hidden()

        # published: they can listen, without the host's controls
        await page.click("#publish-btn")
        await expect(page.locator("#notice")).to_contain_text("The recording is published")
        await expect(page.locator("#publish-btn")).to_have_text("Unpublish")
        await expect(page.locator("#rec-published")).to_have_text("Published")
        await guest.page.reload()
        await expect(guest.page.locator("#rec-title")).to_have_text(title)
        await expect(guest.page.locator("#alert")).to_be_empty()
        await expect(guest.page.locator("#player-box")).to_be_visible()
        await expect(guest.page.locator("#chapter-list button")).to_have_count(1)
        await expect(guest.page.locator("#clips li")).to_have_count(1)
        for hidden in ("#manage-section", "#clip-form", "#rec-published"):
            await expect(guest.page.locator(hidden)).to_be_hidden()
        await guest.page.get_by_role("button", name=re.compile("^Chapter: Questions")).click()
        await until_time(guest.page, lambda t: t > offset + 0.3)
        await guest.shot("recording-listener-phone")
        await guest.assert_fits("the replay page on a phone")
        await guest.assert_accessible("replay page, listener view")

        # the host's home page lists it
        await host.goto("/")
        mine = page.locator("#recordings li", has_text=title)
        await expect(mine).to_contain_text("published")
        await host.shot("home-recordings")
        await mine.get_by_role("link", name=title).click()
        await page.wait_for_url(f"**/recordings/{rid}")

        # deleted, in two presses: the page says so; the other person is told it is gone
        await page.click("#delete-btn")
        await expect(page.locator("#delete-btn")).to_have_text("Press again to delete it for good")
        await page.click("#delete-btn")
        await expect(page.locator("#rec-banner")).to_contain_text("This recording was deleted")
        await expect(page.locator("#notice")).to_have_text("The recording was deleted.")
        await expect(page.locator("#rec-status")).to_have_text("Deleted")
        await expect(page.locator("#player-box")).to_be_hidden()
        await expect(page.locator("#rec-title")).to_be_focused()
        await host.shot("recording-deleted")
        await guest.page.reload()
        await expect(guest.page.locator("#rec-title")).to_have_text("Recording not found")
        await expect(guest.page.locator("#alert")).to_have_text(f"Recording {rid} does not exist.")


async def test_a_room_can_be_created_unrecorded_and_recorded_after_all(
    stack: Stack, browser: Browser
) -> None:
    """The create form's "Record this room" box, then the room page's setting."""
    async with app_page(browser, stack.gateway_url, "rec-setter", viewport=PHONE) as host:
        await host.goto("/")
        await sign_in(host, "rec-setter")
        await expect(host.page.locator("#recordings-empty")).to_be_visible()
        await expect(host.page.locator("#record-room")).to_be_checked()
        await host.page.fill("#title", "Off the record")
        await host.page.uncheck("#record-room")
        await host.page.click("#create-btn")
        await host.page.wait_for_url("**/rooms/*")
        await expect(host.page.locator("#room-status")).to_have_text("Live")
        toggle = host.page.locator("#record-toggle")
        await expect(toggle).not_to_be_checked()
        await expect(host.page.locator("#recording-state")).to_have_text(
            "The room is not being recorded."
        )
        await expect(host.page.locator("#recording-note")).to_be_hidden()
        await toggle.check()
        await expect(host.page.locator("#notice")).to_contain_text("Recording is on")
        await expect(host.page.locator("#recording-note")).to_be_visible()
        await expect(toggle).to_be_checked()
        await host.assert_fits("the room page's recording setting on a phone")
        await host.assert_accessible("room page with the recording setting")
        await host.shot("room-recording-setting-phone")
