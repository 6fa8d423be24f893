import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser

from infra.localstack import Stack, wait_worker_ready
from tests.browser import HEADLESS_ARGS, launched_chromium


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Broker, one stream worker and one gateway shared by the integration tests."""
    limits = {"STOA_RATE_LIMIT": "5", "STOA_RATE_BURST": "200"}
    running = Stack(data_dir=Path(tmp_path_factory.mktemp("stack")), env=limits).start_broker()
    try:
        running.start_worker()
        running.start_gateway()
        wait_worker_ready(running.gateway_url)
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(stack: Stack) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client of the stack's gateway, for one test module."""
    async with aiohttp.ClientSession(base_url=stack.gateway_url) as session:
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for one module's pages (a module may define its own, with flags)."""
    async with launched_chromium(HEADLESS_ARGS) as launched:
        yield launched


@pytest.fixture(scope="module")
def segmenter(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """The HLS segmenter, for one module's rooms while it runs (one at a time in a stack)."""
    process = stack.start_segmenter()
    yield process
    process.terminate()
    process.wait(timeout=10)


class RecorderProcess:
    """The stack's room recorder (``media.recorder_node``), which a test may kill and restart."""

    READY = b"following"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.log = stack.data_dir / "recorder.log"
        self.process = self.start()

    def start(self, timeout: float = 30.0) -> subprocess.Popen[bytes]:
        """A new recorder process, returned once it follows the log (its ready line)."""
        import time

        before = self.log.read_bytes().count(self.READY) if self.log.exists() else 0
        self.process = self.stack.start_recorder()
        deadline = time.monotonic() + timeout
        while self.log.read_bytes().count(self.READY) <= before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the recorder did not start: see {self.log}")
            time.sleep(0.05)
        return self.process

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, as a crash."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def recorder(stack: Stack) -> Iterator[RecorderProcess]:
    """The room recorder, for one module's rooms while it runs (one at a time in a stack)."""
    running = RecorderProcess(stack)
    yield running
    running.stop()
