"""The app's pages in Debian's Chromium, without audio: signing in, rooms, the stage.

Each test drives the pages as a person would (buttons, forms, links), with
the people in separate browser contexts, and checks what each of them is
shown: the room lists, the hand queue, what a moderator's action tells the
person it concerns, the API's own sentence when it refuses. The pages must
not reach other hosts nor log errors (the refusals' own "Failed to load
resource: 409" lines excepted, where a test provokes one).
"""

import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from infra.localstack import Stack
from tests.app_pages import PHONE, AppPage, app_page, sign_in
from tests.media_clients import act, dev_token, live_room

pytestmark = pytest.mark.slow

REFUSED = r"Failed to load resource: the server responded with a status of 409"
REMOVED = r"Failed to load resource: the server responded with a status of 403"


def test_the_home_page_and_the_room_page_are_served(stack: Stack) -> None:
    home = httpx.get(stack.gateway_url + "/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert "/static/js/home.js" in home.text
    room = httpx.get(stack.gateway_url + "/rooms/any-room")
    assert room.status_code == 200 and "/static/js/room.js" in room.text


async def open_room(host: AppPage, title: str, topics: str = "") -> str:
    await host.goto("/")
    await sign_in(host, host.name)
    await host.page.fill("#title", title)
    await host.page.fill("#topics", topics)
    await host.page.click("#create-btn")
    await host.page.wait_for_url("**/rooms/*")
    await expect(host.page.locator("#room-status")).to_have_text("Live")
    return urlsplit(host.page.url).path.rsplit("/", 1)[1]


async def test_the_host_runs_the_stage_and_each_person_is_told_what_happened(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    base = stack.gateway_url
    async with (
        app_page(browser, base, "web-host", allowed=(REFUSED,)) as host,
        app_page(browser, base, "web-guest", viewport=PHONE, allowed=(REMOVED,)) as guest,
    ):
        room_id = await open_room(host, f"Stage room {uuid.uuid4().hex[:6]}", "web")

        # a chapter, at the room's current time
        await host.page.fill("#chapter-title", "Opening")
        await host.page.click("#chapter-btn")
        await expect(host.page.locator("#chapters li")).to_have_text(
            re.compile(r"0:\d\d — Opening")
        )

        # someone opens the shared URL signed out, signs in from it, comes back to it
        await guest.goto(f"/rooms/{room_id}")
        await expect(guest.page.locator("#listen-btn")).to_have_text("Sign in to listen")
        await expect(guest.page.locator("#chapters li")).to_contain_text("Opening")
        await sign_in(guest, "web-guest")
        await guest.page.click("#hand-btn")
        await expect(guest.page.locator("#lower-btn")).to_be_focused()

        # the hand reaches the host's queue (the page polls: nobody listens here)
        hand = host.page.locator("#hands li", has_text="web-guest")
        await expect(hand).to_be_visible(timeout=10_000)
        await hand.get_by_role("button", name="Invite to speak: web-guest", exact=True).click()
        await expect(host.page.locator("#stage")).to_contain_text("web-guest")
        await expect(host.page.locator("#hands-empty")).to_be_visible()

        # the guest is offered the microphone, without reloading
        await expect(guest.page.locator("#invite")).to_be_visible(timeout=10_000)
        await expect(guest.page.locator("#notice")).to_contain_text("Your hand was approved")

        # moved to the audience: told so, and the offer is gone
        await host.page.get_by_role(
            "button", name="Move to audience: web-guest", exact=True
        ).click()
        await expect(guest.page.locator("#room-banner")).to_contain_text(
            "A moderator moved you to the audience", timeout=10_000
        )
        await expect(guest.page.locator("#invite")).to_be_hidden()
        await expect(guest.page.locator("#hand-btn")).to_be_visible()

        # invited again by name, made co-host; a third co-host is refused with the API's words
        await host.page.fill("#add-speaker", "web-guest")
        await host.page.click("#add-speaker-btn")
        await expect(host.page.locator("#stage")).to_contain_text("web-guest")
        for extra in ("web-extra-1", "web-extra-2"):
            await act(http, await dev_token(http, host.name), "PUT",
                      f"/v1/rooms/{room_id}/speakers/{extra}")  # fmt: skip
        for cohost in ("web-guest", "web-extra-1"):
            make = host.page.get_by_role("button", name=f"Make co-host: {cohost}", exact=True)
            await make.click()
            await expect(host.page.locator("#stage li", has_text=cohost)).to_contain_text("Co-host")
        await host.page.get_by_role("button", name="Make co-host: web-extra-2", exact=True).click()
        alert = host.page.locator("#alert")
        await expect(alert).to_have_text("A room can have at most 2 co-hosts.")
        assert await alert.get_attribute("role") == "alert"
        await expect(guest.page.locator("#stage li", has_text="web-guest (you)")).to_contain_text(
            "Co-host", timeout=10_000
        )
        await host.shot("room-host-refused")
        await host.assert_accessible("room page, host with a refusal shown")

        # removed: the guest's page says so and offers nothing more
        remove = host.page.get_by_role("button", name="Remove: web-guest", exact=True)
        await remove.click()
        await host.page.get_by_role("button", name="Confirm removal: web-guest").click()
        await expect(host.page.locator("#stage")).not_to_contain_text("web-guest")
        await expect(guest.page.locator("#room-banner")).to_contain_text(
            "You were removed from this room", timeout=10_000
        )
        for control in ("#listen-btn", "#hand-btn", "#speaker-actions"):
            await expect(guest.page.locator(control)).to_be_hidden()
        await guest.shot("room-removed")
        await guest.assert_fits("a removed guest's room page on a phone")


async def test_a_scheduled_room_is_listed_then_started_by_its_host(
    stack: Stack, browser: Browser
) -> None:
    title = f"Evening talk {uuid.uuid4().hex[:6]}"
    at = (datetime.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    async with (
        app_page(browser, stack.gateway_url, "web-planner") as host,
        app_page(browser, stack.gateway_url, "web-visitor") as visitor,
    ):
        await host.goto("/")
        await sign_in(host, "web-planner")
        await host.page.fill("#title", title)
        await host.page.check("#start-later")
        await host.page.fill("#scheduled-for", at.strftime("%Y-%m-%dT%H:%M"))
        await host.page.click("#create-btn")
        await host.page.wait_for_url("**/rooms/*")
        await expect(host.page.locator("#room-status")).to_have_text("Scheduled")
        await expect(host.page.locator("#room-when")).to_contain_text("in 2 h")

        await visitor.goto("/")
        soon = visitor.page.locator("#scheduled-rooms li", has_text=title)
        await expect(soon).to_contain_text("Hosted by web-planner", timeout=10_000)
        await expect(soon.locator("time")).to_have_attribute(
            "datetime", re.compile(at.astimezone().strftime("%Y-%m-%dT"))
        )
        await expect(visitor.page.locator("#create-signed-out")).to_be_visible()

        await host.page.click("#start-btn")
        await expect(host.page.locator("#room-status")).to_have_text("Live")
        await expect(visitor.page.locator("#live-rooms li", has_text=title)).to_be_visible(
            timeout=10_000
        )
        await expect(soon).to_have_count(0)


async def test_sign_in_goes_to_an_external_issuer_and_takes_its_token_from_the_fragment(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    """With dev sign-in off, signing in goes to ``login_url`` and comes back with ``#token=``."""
    base = stack.gateway_url
    login_url = f"{base}/issuer/login?client=stoa"
    room_id, _ = await live_room(http, "web-ext-host", title="Somewhere to come back to")
    async with app_page(browser, base, "web-external") as person:

        async def config(route: Route) -> None:
            body = {"dev_auth": False, "login_url": login_url}
            await route.fulfill(json=body)

        async def issuer(route: Route) -> None:
            await route.fulfill(
                body="<!doctype html><title>Issuer</title><h1>Issuer</h1>",
                content_type="text/html",
            )

        await person.context.route("**/v1/auth/config", config)
        await person.context.route("**/issuer/login*", issuer)
        await person.goto(f"/rooms/{room_id}")
        await person.page.click("#signin-btn")
        await person.page.wait_for_url("**/issuer/login*")
        query = parse_qs(urlsplit(person.page.url).query)
        assert query["client"] == ["stoa"]
        assert query["return_to"] == [f"{base}/rooms/{room_id}"]

        # the issuer sends the person back with a token it signed (here: the dev signer)
        token = await dev_token(http, "web-external")
        await person.page.goto(f"{query['return_to'][0]}#token={token}")
        await expect(person.page.locator("#whoami")).to_have_text("Signed in as web-external")
        assert await person.page.evaluate("location.href") == f"{base}/rooms/{room_id}"

        # the sign-in screen itself redirects too when dev sign-in is off
        await person.page.click("#signout-btn")
        await person.goto("/?signin&next=/")
        await person.page.wait_for_url("**/issuer/login*")
        assert parse_qs(urlsplit(person.page.url).query)["return_to"] == [f"{base}/"]


async def test_the_longest_names_the_api_accepts_fit_a_phone(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    """A 140-character title, five 40-character topics and a 64-character user id, none with
    a place to break: the home page and the room page still fit 360 px."""
    host_id = ("W" * 58) + uuid.uuid4().hex[:6]
    title = "W" * 134 + uuid.uuid4().hex[:6]
    topics = [f"{n}" + "w" * 39 for n in range(5)]
    token = await dev_token(http, host_id)
    body = {"title": title, "topics": topics, "start_now": True}
    async with http.post("/v1/rooms", json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        room = await r.json()
        assert r.status == 201, room
    await act(http, token, "PUT", f"/v1/rooms/{room['room_id']}/speakers/{host_id[::-1]}")
    async with app_page(browser, stack.gateway_url, host_id, viewport=PHONE) as host:
        await host.goto(f"/#token={token}")
        await expect(host.page.locator("#live-rooms li", has_text=title[-6:])).to_be_visible(
            timeout=10_000
        )
        await host.assert_fits("home with the longest names on a phone")
        await host.shot("home-longest-names-phone")
        await host.goto(f"/rooms/{room['room_id']}")
        await expect(host.page.locator("#room-status")).to_have_text("Live")
        await expect(host.page.locator("#whoami")).to_contain_text(host_id)
        await host.assert_fits("room with the longest names on a phone")
        await host.shot("room-longest-names-phone")
