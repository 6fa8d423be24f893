"""Debian's Chromium as the tests drive it (never a browser Playwright downloads)."""

import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

from infra.chromium import CHROMIUM, HEADLESS_ARGS, MEDIA_ARGS

__all__ = ["CHROMIUM", "HEADLESS_ARGS", "MEDIA_ARGS", "launched_chromium", "require_chromium"]


def require_chromium() -> None:
    """A missing browser fails the test rather than skipping it: `make test` installs it."""
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")


@asynccontextmanager
async def launched_chromium(args: Sequence[str]) -> AsyncIterator[Browser]:
    """Debian's Chromium with ``args``, closed however the block ends."""
    require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=list(args))
        try:
            yield launched
        finally:
            await launched.close()
