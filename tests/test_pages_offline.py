"""Every page the gateway serves works offline, in Debian's Chromium.

The browser may reach the gateway and nothing else: any request to another host
is aborted and recorded. The API docs must still render every operation
(Swagger UI at /docs, Redoc at /redoc), and no page may log a console error or
throw. The pages are found from the app's routes, so a page added later is
checked too.
"""

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, Route, WebSocketRoute

from api.app import create_app
from api.routes import iter_routes
from infra.localstack import Stack
from infra.settings import Settings
from tests.browser import CHROMIUM, HEADLESS_ARGS, require_chromium

pytestmark = pytest.mark.slow

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def page_candidates() -> list[str]:
    """GET routes outside the API document and without parameters: pages and their helpers."""
    app = create_app(Settings(), "127.0.0.1:9")  # routes only: nothing starts before lifespan
    return sorted(
        route.path
        for route in iter_routes(app)
        if route.kind == "http"
        and "GET" in route.methods
        and not route.include_in_schema
        and "{" not in route.path
    )


def html_pages(base: str) -> list[str]:
    pages = []
    for path in page_candidates():
        response = httpx.get(base + path, timeout=10)
        if response.status_code == 200 and response.headers["content-type"].startswith("text/html"):
            pages.append(path)
    return pages


def operation_count(base: str) -> int:
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    return sum(1 for item in spec["paths"].values() for method in item if method in METHODS)


def test_pages_load_from_stoa_alone(stack: Stack) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base = stack.gateway_url
    pages = html_pages(base)
    assert {"/", "/media", "/docs", "/redoc"} <= set(pages), pages
    operations = operation_count(base)
    assert operations > 20
    foreign: list[str] = []
    problems: dict[str, list[str]] = {}

    def local_only(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort("blockedbyclient")

    def local_sockets_only(socket: WebSocketRoute) -> None:
        if urlsplit(socket.url).hostname in LOCAL_HOSTS:
            socket.connect_to_server()
        else:
            foreign.append(socket.url)
            socket.close()

    def watch(page: Page, path: str) -> None:
        seen = problems.setdefault(path, [])

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                seen.append(f"console: {message.text} ({message.location.get('url')})")

        def thrown(error: Error) -> None:
            seen.append(f"uncaught: {error}")

        page.on("console", console)
        page.on("pageerror", thrown)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", local_only)
            context.route_web_socket("**/*", local_sockets_only)
            for path in pages:
                page = context.new_page()
                watch(page, path)
                page.goto(base + path, wait_until="networkidle")
                if path == "/docs":
                    expect(page.locator(".opblock")).to_have_count(operations, timeout=15_000)
                    expect(page.locator(".info .title")).to_contain_text("Stoa")
                if path == "/redoc":
                    rendered = page.locator("[data-section-id*='/operation/']")
                    expect(rendered).to_have_count(operations, timeout=15_000)
                page.wait_for_timeout(300)  # late errors (fonts, images) surface as well
                page.close()
        finally:
            browser.close()
    assert foreign == [], "pages reached for other hosts"
    assert {path: seen for path, seen in problems.items() if seen} == {}
