"""The app's pages (home, sign-in, room) in Chromium, as the app tests drive them.

Each page lives in its own browser context that may reach the gateway and
nothing else (any other host is aborted and recorded) and whose console
errors and uncaught exceptions are recorded: both lists must be empty when
the context closes. Screenshots go to ``test-artifacts/`` at the repository
root; the accessibility scan is axe-core, vendored by ``make install`` into
``tests/vendor/`` and injected into the page.
"""

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Route, WebSocketRoute, expect

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "vendor" / "axe.min.js"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
STICKING_OUT = """(() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${e.className}`)
  .slice(-5))()"""
"""The deepest elements whose right edge is past the window, for the failure message."""
PHONE = {"width": 360, "height": 780}
RAW_MIC = "localStorage.setItem('stoa.mic', 'raw');"
"""The tests compare what a microphone captured with what a listener heard: no voice processing."""


@dataclass
class AppPage:
    """One browser context of the app, with what must not happen recorded."""

    name: str
    context: BrowserContext
    page: Page
    base_url: str
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def serious_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        assert AXE.exists(), f"{AXE} is missing: `make install` vendors axe-core from npm"
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = await self.page.evaluate(
            """async () => {
              const result = await axe.run(document, { resultTypes: ["violations"] });
              return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                               nodes: v.nodes.map((n) => n.target.join(" ")) }));
            }"""
        )
        return found

    async def assert_accessible(self, label: str) -> None:
        violations = await self.serious_violations()
        assert violations == [], f"{label}: axe-core found {violations}"

    async def assert_fits(self, label: str) -> None:
        """Nothing sticks out sideways: the page is no wider than its viewport."""
        widths = await self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if widths[0] > widths[1]:
            sticking_out = await self.page.evaluate(STICKING_OUT)
            raise AssertionError(
                f"{label}: {widths[0]} px wide in a {widths[1]} px window: {sticking_out}"
            )

    async def state(self, expression: str) -> Any:
        copy = "v == null ? null : JSON.parse(JSON.stringify(v))"
        return await self.page.evaluate(f"(() => {{ const v = ({expression}); return {copy}; }})()")

    async def until(
        self, expression: str, check: Callable[[Any], bool], timeout: float = 10.0
    ) -> Any:
        """Poll ``expression`` in the page until ``check`` holds on its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.state(expression)
            if value is not None and check(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {expression} never got there: {value}")
            await self.page.wait_for_timeout(50)

    def unexpected_problems(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


async def keep_local(context: BrowserContext, foreign: list[str]) -> None:
    """Let ``context`` reach Stoa's host alone: any other request or WebSocket is aborted
    and its URL appended to ``foreign``."""

    async def local_only(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            foreign.append(route.request.url)
            await route.abort("blockedbyclient")

    async def local_sockets_only(socket: WebSocketRoute) -> None:
        if urlsplit(socket.url).hostname in LOCAL_HOSTS:
            socket.connect_to_server()
        else:
            foreign.append(socket.url)
            await socket.close()

    await context.route("**/*", local_only)
    await context.route_web_socket("**/*", local_sockets_only)


@contextlib.asynccontextmanager
async def app_page(
    browser: Browser,
    base_url: str,
    name: str,
    *,
    viewport: dict[str, int] | None = None,
    allowed: tuple[str, ...] = (),
) -> AsyncIterator[AppPage]:
    """A new context and page of the app; checked for foreign requests and errors on exit."""
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    await context.add_init_script(RAW_MIC)
    page = await context.new_page()
    opened = AppPage(name, context, page, base_url, allowed=[re.compile(a) for a in allowed])

    await keep_local(context, opened.foreign)
    watch(opened, page)
    try:
        yield opened
    finally:
        await context.close()
    assert opened.foreign == [], f"{name}: the page reached for other hosts"
    assert opened.unexpected_problems() == [], f"{name}: the page logged errors: {opened.problems}"


def watch(opened: AppPage, page: Page) -> None:
    """Record ``page``'s console errors and uncaught exceptions into ``opened``."""

    def console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url") or "?"  # a failed load names its resource
            opened.problems.append(f"{page.url}: console: {message.text} ({where})")

    page.on("console", console)
    page.on("pageerror", lambda e: opened.problems.append(f"{page.url}: uncaught: {e}"))


async def new_tab(opened: AppPage) -> Page:
    """Another page in the same context (same sign-in), watched like the first."""
    page = await opened.context.new_page()
    watch(opened, page)
    return page


async def sign_in(app: AppPage, user_id: str) -> None:
    """Through the sign-in screen, from the account bar's button, back to where it started."""
    came_from = urlsplit(app.page.url).path
    await app.page.click("#signin-btn")
    await expect(app.page.locator("#signin-title")).to_be_visible()
    await app.page.fill("#user-id", user_id)
    await app.page.click("#signin-submit")
    await app.page.wait_for_url(re.compile(re.escape(came_from) + r"$"))
    await expect(app.page.locator("#whoami")).to_have_text(f"Signed in as {user_id}")
