from collections.abc import Iterator
from pathlib import Path

import pytest

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
