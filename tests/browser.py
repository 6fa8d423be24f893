"""Debian's Chromium as the tests drive it (never a browser Playwright downloads)."""

import shutil

import pytest

from infra.chromium import CHROMIUM, HEADLESS_ARGS, MEDIA_ARGS

__all__ = ["CHROMIUM", "HEADLESS_ARGS", "MEDIA_ARGS", "require_chromium"]


def require_chromium() -> None:
    """A missing browser fails the test rather than skipping it: `make test` installs it."""
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
