"""The web page, in Debian's Chromium: two people run a room by hand."""

import httpx
import pytest

from infra.localstack import Stack
from tests.browser import CHROMIUM, HEADLESS_ARGS, require_chromium

pytestmark = pytest.mark.slow


def test_page_is_served_at_the_root(stack: Stack) -> None:
    page = httpx.get(stack.gateway_url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/rooms" in page.text


def test_host_promotes_a_listener_who_raised_a_hand(stack: Stack) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_ARGS)
        try:
            host = browser.new_context().new_page()
            host.goto(stack.gateway_url + "/")
            host.fill("#user", "web-host")
            host.click("#signin-btn")
            expect(host.locator("#whoami")).to_have_text("signed in as web-host")
            host.fill("#title", "Browser room")
            host.fill("#topics", "web")
            host.click("#create-btn")
            expect(host.locator("#room-status")).to_have_text("live")
            room_id = host.evaluate("location.hash.slice(1)")

            host.click("#hand-btn")  # the host is on stage: the page shows the reason
            expect(host.locator("#error")).to_contain_text("already on stage")

            guest = browser.new_context().new_page()
            guest.goto(f"{stack.gateway_url}/#{room_id}")
            guest.fill("#user", "web-guest")
            guest.click("#signin-btn")
            expect(guest.locator("#whoami")).to_have_text("signed in as web-guest")
            guest.click("#join-btn")
            guest.click("#hand-btn")
            expect(guest.locator("#hands")).to_contain_text("web-guest")

            invite = host.locator("#hands button", has_text="invite to speak")
            expect(invite).to_be_visible(timeout=10_000)
            invite.click()
            expect(host.locator("#stage")).to_contain_text("web-guest (speaker)")
            expect(guest.locator("#stage")).to_contain_text("web-guest (speaker)", timeout=10_000)
        finally:
            browser.close()
