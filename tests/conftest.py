import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from infra.localstack import Stack, wait_worker_ready


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


@pytest.fixture(scope="module")
def segmenter(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """The HLS segmenter, for one module's rooms while it runs (one at a time in a stack)."""
    process = stack.start_segmenter()
    yield process
    process.terminate()
    process.wait(timeout=10)
