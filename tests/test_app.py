"""The browser app, end to end in Debian's Chromium: a room from the home page to its end.

Three people, each in their own Chromium process because the fake microphone
(a WAV file) is set per process: the host speaks espeak-ng speech band-limited
to 300-1200 Hz, the guest speech limited to 2500-4000 Hz, and a third person
only listens. Whatever the third person hears above 2.5 kHz is therefore the
guest's voice: that is how the test hears the guest arrive and the host's mute
take the guest out of the mix. The third page measures its own output with an
AnalyserNode (``stoaApp.record``: band powers every 20 ms, stamped with the
wall clock, which all three browsers share with the test).

A second test puts a room in the relay tier (a presence crowd of 120) and
SIGKILLs the relay a listener's page plays from.

Every page is checked for requests to other hosts and for console errors, and
scanned with axe-core (no serious or critical violation); screenshots of each
page go to ``test-artifacts/``.
"""

import asyncio
import contextlib
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Playwright, async_playwright, expect

from events.producer import LogProducer
from infra.localstack import Stack
from tests.app_pages import PHONE, AppPage, app_page, new_tab, sign_in
from tests.browser import CHROMIUM, MEDIA_ARGS, require_chromium
from tests.media_clients import (
    Audience,
    act,
    dev_token,
    join,
    launch_speaker,
    live_room,
    speech_packets,
    speech_wav,
    talking,
)

pytestmark = pytest.mark.slow

HOST_BAND = ["sinc", "300-1200"]
GUEST_BAND = ["sinc", "2500-4000"]
MEASURED = [[2600, 3900], [350, 1150]]
"""Bands the listener measures: the guest's (inside its filter's edges), then the host's."""
MUTE_WITHIN_S = 1.0
ENDED = r"Failed to load resource: the server responded with a status of 409"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pw() -> AsyncIterator[Playwright]:
    require_chromium()
    async with async_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = Path(tmp_path_factory.mktemp("app-voices"))
    return {
        "host": speech_wav(
            folder / "host.wav",
            "Good morning, this is the host speaking low, about the news of the day.",
            "en", 30, HOST_BAND,
        ),
        "guest": speech_wav(
            folder / "guest.wav",
            "Thank you for having me, my voice is high and bright, like a whistle.",
            "en+f3", 90, GUEST_BAND,
        ),
    }  # fmt: skip


@contextlib.asynccontextmanager
async def chromium(pw: Playwright, wav: Path | None = None) -> AsyncIterator[Browser]:
    browser = await (
        launch_speaker(pw, wav)
        if wav
        else pw.chromium.launch(executable_path=CHROMIUM, args=MEDIA_ARGS)
    )
    try:
        yield browser
    finally:
        await browser.close()


def in_band(samples: list[dict[str, Any]], band: int) -> np.ndarray:
    return np.array([s["bands"][band] for s in samples], dtype=float)


async def create_room(host: AppPage, title: str) -> str:
    """From the home page's form: the room starts now and its page opens."""
    await host.page.fill("#title", title)
    await host.page.fill("#topics", "news, morning")
    await host.page.click("#create-btn")
    await host.page.wait_for_url("**/rooms/*")
    await expect(host.page.locator("#room-status")).to_have_text("Live")
    return urlsplit(host.page.url).path.rsplit("/", 1)[1]


async def test_a_room_from_the_home_page_to_its_end(
    stack: Stack, http: aiohttp.ClientSession, pw: Playwright, voices: dict[str, Path]
) -> None:
    base = stack.gateway_url
    title = f"Morning show {uuid.uuid4().hex[:6]}"
    async with (
        chromium(pw, voices["host"]) as host_browser,
        chromium(pw, voices["guest"]) as guest_browser,
        chromium(pw) as listener_browser,
        app_page(host_browser, base, "host") as host,
        app_page(guest_browser, base, "guest", viewport=PHONE) as guest,
        app_page(listener_browser, base, "listener") as listener,
    ):
        # --- the host, signed out, signs in and opens a room from the home page
        await host.goto("/")
        await expect(host.page.locator("#create-signin-btn")).to_be_visible()
        await host.shot("home-signed-out")
        await host.assert_accessible("home, signed out")
        await host.page.click("#signin-btn")
        await expect(host.page.locator("#signin-title")).to_be_visible()
        await host.shot("sign-in")
        await host.assert_accessible("sign-in screen")
        await host.page.fill("#user-id", "app-host")
        await host.page.click("#signin-submit")
        await expect(host.page.locator("#whoami")).to_have_text("Signed in as app-host")
        await expect(host.page.locator("#create-form")).to_be_visible()
        await host.shot("home-signed-in")
        await host.assert_accessible("home, signed in")
        room_id = await create_room(host, title)

        # --- the host listens (on stage: WHEP) and speaks
        await host.page.click("#listen-btn")
        await expect(host.page.locator("#listen-status")).to_have_text("Listening (on stage)")
        await host.page.click("#mic-btn")
        await expect(host.page.locator("#mute-btn")).to_be_visible()

        # --- a guest (phone-sized) finds it on the home page and listens
        await guest.goto("/")
        await sign_in(guest, "app-guest")
        card = guest.page.locator("#live-rooms li", has_text=title)
        await expect(card).to_contain_text("Hosted by app-host", timeout=10_000)
        await expect(card).to_contain_text("news")
        await guest.assert_fits("home on a phone")
        await guest.shot("home-phone")
        await card.get_by_role("link", name=title).click()
        await guest.page.wait_for_url(f"**/rooms/{room_id}")
        await guest.page.click("#listen-btn")
        heard = await guest.until(
            "window.stoaListener && stoaListener.state", lambda s: s["energyMax"] > 0.01, timeout=15
        )
        assert heard["path"] == "websocket", heard["log"]
        await guest.page.click("#hand-btn")
        await expect(guest.page.locator("#notice")).to_contain_text("Your hand is raised")
        await guest.assert_fits("room on a phone")

        # --- a third person opens the shared URL with a token from an external issuer
        token = await dev_token(http, "app-listener")
        home_tab = await new_tab(listener)
        await home_tab.goto(f"{base}/#token={token}")
        await expect(home_tab.locator("#whoami")).to_have_text("Signed in as app-listener")
        assert await home_tab.evaluate("location.hash") == "", "the token stayed in the address"
        listed = home_tab.locator("#live-rooms li", has_text=title)
        await expect(listed).to_contain_text(re.compile(r"[1-9][0-9]* listeners?"), timeout=10_000)
        await listener.goto(f"/rooms/{room_id}")
        await expect(listener.page.locator("#whoami")).to_have_text("Signed in as app-listener")
        await listener.page.click("#listen-btn")
        await listener.until(
            "window.stoaListener && stoaListener.state", lambda s: s["energyMax"] > 0.01, timeout=15
        )
        await listener.page.evaluate(f"stoaApp.record({MEASURED}, 20)")
        await expect(listener.page.locator("#room-count")).to_contain_text("listener")
        await listener.shot("room-listener")
        await listener.assert_accessible("room page, listener")
        # the host speaks: the activity messages light the host's speaking indicator
        await expect(listener.page.locator("#stage li .dot.talking")).to_have_count(
            1, timeout=10_000
        )

        # --- the host sees the hand in the queue and approves it
        hand = host.page.locator("#hands li", has_text="app-guest")
        await expect(hand).to_be_visible(timeout=10_000)
        await expect(host.page.locator("#notice")).to_contain_text("app-guest raised a hand")
        await host.shot("room-host-hand-queue")
        await host.assert_accessible("room page, host with a hand in the queue")
        await asyncio.sleep(2.0)  # the listener's baseline: the host alone
        baseline = in_band(await listener.state("stoaApp.samples"), 0)
        await hand.get_by_role("button", name="Invite to speak: app-guest", exact=True).click()
        await expect(host.page.locator("#stage")).to_contain_text("app-guest")

        # --- the guest is offered the microphone without reloading, and speaks
        await expect(guest.page.locator("#invite")).to_be_visible(timeout=10_000)
        await expect(guest.page.locator("#notice")).to_contain_text("Your hand was approved")
        await guest.page.click("#invite-accept")
        await expect(guest.page.locator("#mute-btn")).to_be_visible(timeout=10_000)
        await expect(guest.page.locator("#listen-status")).to_have_text("Listening (on stage)")
        await guest.shot("room-guest-speaking")
        await expect(home_tab.locator("#live-rooms li", has_text=title)).to_contain_text(
            "with app-guest", timeout=10_000
        )

        # --- the third person hears the guest's band
        floor = float(np.percentile(baseline, 99)) if len(baseline) else 0.0
        threshold = max(floor, 1e-9) * 100  # 20 dB above what the guest's band held before
        deadline = time.monotonic() + 15
        while True:
            samples = await listener.state("stoaApp.samples")
            recent = [s for s in samples if s["t"] >= (time.time() - 2.0) * 1000]
            loud = int((in_band(recent, 0) > threshold).sum())
            if loud >= 5:
                break
            assert time.monotonic() < deadline, (
                f"the guest's band never reached {threshold:.2e} (floor {floor:.2e})"
            )
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        talking_samples = [
            s for s in await listener.state("stoaApp.samples") if s["t"] >= (time.time() - 3) * 1000
        ]
        talking_level = float(np.percentile(in_band(talking_samples, 0), 90))
        await expect(
            listener.page.locator("#stage li", has_text="app-guest").locator(".dot.talking")
        ).to_have_count(1, timeout=10_000)

        # --- the host mutes the guest: the guest's band stops within a second
        mute = host.page.get_by_role("button", name="Mute: app-guest", exact=True)
        muted_at_ms = time.time() * 1000
        await mute.click()
        await expect(
            host.page.get_by_role("button", name="Unmute: app-guest", exact=True)
        ).to_be_visible()
        await asyncio.sleep(3.0)
        after = [s for s in await listener.state("stoaApp.samples") if s["t"] >= muted_at_ms]
        loud_after = [s["t"] - muted_at_ms for s in after if s["bands"][0] > threshold]
        last_loud_ms = max(loud_after, default=0.0)
        print(
            f"guest band: floor {floor:.2e}, threshold {threshold:.2e}, talking p90 "
            f"{talking_level:.2e}; last loud sample {last_loud_ms:.0f} ms after the mute click"
        )
        assert talking_level > threshold
        assert last_loud_ms <= MUTE_WITHIN_S * 1000, loud_after
        assert len(after) > 100, "the listener stopped measuring"
        host_band = in_band(after, 1)
        assert (host_band > threshold).sum() > 10, "the host's voice went away as well"
        await expect(guest.page.locator("#stage li", has_text="app-guest")).to_contain_text("Muted")
        await expect(listener.page.locator("#stage li", has_text="app-guest")).to_contain_text(
            "Muted", timeout=5_000
        )
        await host.shot("room-host-muted-guest")

        # --- the host ends the room; every page says so
        end = host.page.locator("#end-btn")
        await end.click()
        await expect(end).to_have_text("Click again to end the room for everyone")
        await end.click()
        for app in (host, guest, listener):
            await expect(app.page.locator("#room-status")).to_have_text("Ended", timeout=10_000)
            await expect(app.page.locator("#room-banner")).to_contain_text("ended")
        await expect(home_tab.locator("#live-rooms li", has_text=title)).to_have_count(
            0, timeout=10_000
        )
        for app in (host, guest, listener):
            await app.shot(f"room-ended-{app.name}")
        await guest.assert_accessible("room page, ended")
        state = await listener.state("stoaListener.state")
        assert state["reason"] == "the room ended" and state["errors"] == [], state


# --- a room in the relay tier: the listener's relay dies --------------------------------


def node_process(stack: Stack, url: str) -> int:
    """The pid of the relay serving ``url`` (any relay of the session's stack)."""
    port = str(urlsplit(url).port)
    for process in stack.processes:
        args = [str(a) for a in process.args]  # type: ignore[union-attr]
        if "media.relay_node" in args and args[args.index("--port") + 1] == port:
            assert process.poll() is None, f"the relay at {url} is already gone"
            return process.pid
    raise AssertionError(f"no relay of this stack serves {url}")


async def test_a_listener_keeps_playing_when_its_relay_is_killed(
    stack: Stack, http: aiohttp.ClientSession, pw: Playwright, tmp_path: Path
) -> None:
    # Two relays, as `stoa up` runs: the listener's fallback is the other one. (With one, it
    # falls back to the mixing node, which moves it back to a relay at once: the dead one
    # still looks alive there until its load report is 1.5 s old.)
    relays = await asyncio.gather(
        *(asyncio.to_thread(stack.start_relay, None, "app-relay") for _ in range(2))
    )
    packets = speech_packets(tmp_path, "A large room keeps talking while its relays come and go.")
    room_id, host_token = await live_room(http, "app-big-host", title="A large room")
    producer = await LogProducer(stack.broker.bootstrap, "app-crowd").start()
    try:
        async with (
            talking(http, room_id, "app-big-host", packets),
            chromium(pw) as browser,
            # after the end, a page that reconnects learns it from a refused join (409)
            app_page(browser, stack.gateway_url, "relay-listener", allowed=(ENDED,)) as listener,
        ):
            await Audience(producer, room_id).change(range(120), joined=True)

            async def relay_tier() -> bool:
                joined = await join(http, room_id, "app-probe")
                return bool(joined.body["listen"]["tier"] == "relay")

            deadline = time.monotonic() + 20
            while not await relay_tier():
                assert time.monotonic() < deadline, "the room never reached the relay tier"
                await asyncio.sleep(0.3)

            token = await dev_token(http, "app-far-listener")
            await listener.goto(f"/rooms/{room_id}#token={token}")
            await expect(listener.page.locator("#room-count")).to_contain_text(
                "listeners", timeout=10_000
            )
            count = await listener.page.locator("#room-count").text_content()
            assert count and int(count.split()[0].replace(",", "")) >= 100, count
            await listener.page.click("#listen-btn")
            before = await listener.until(
                "window.stoaListener && stoaListener.state",
                lambda s: s["framesPlayed"] >= 100 and s["energyMax"] > 0.01,
                timeout=15,
            )
            on = before["url"]
            assert urlsplit(on).netloc != urlsplit(stack.gateway_url).netloc, (
                f"placed on the mixing node, not a relay: {before['log']}"
            )
            os.kill(node_process(stack, on), signal.SIGKILL)
            killed_at = time.monotonic()
            resumed = await listener.until(
                "stoaListener.state", lambda s: s["reconnects"] >= 1, timeout=5
            )
            seen_in = time.monotonic() - killed_at
            sound_then = resumed["soundMs"]
            await asyncio.sleep(2.0)
            after = await listener.state("stoaListener.state")
            failover = resumed["failovers"][0]
            print("failover", failover, f"seen by the test after {seen_in:.2f} s")
            assert failover["ms"] <= 2000 and seen_in <= 2.5, (failover, seen_in)
            assert urlsplit(failover["to"]).netloc != urlsplit(on).netloc
            played = after["framesPlayed"] - before["framesPlayed"]
            elapsed = time.monotonic() - killed_at
            # playing again, not at real-time rate: that depends on load (`stoa bench app`)
            assert played >= 25 * (elapsed - 1.0), f"{played} frames in {elapsed:.1f} s"
            assert after["soundMs"] - sound_then >= 500, "silent after the failover"
            assert after["status"] == "playing", after["log"]
            await listener.shot("room-listener-after-relay-loss")
            await act(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
            await expect(listener.page.locator("#room-status")).to_have_text(
                "Ended", timeout=10_000
            )
    finally:
        await producer.stop()
        for relay in relays:
            if relay.process.poll() is None:
                relay.process.terminate()
