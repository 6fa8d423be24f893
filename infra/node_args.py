"""The command line every media node shares: where the log is and whom it follows."""

import argparse
import asyncio
import logging
import signal
import uuid
from dataclasses import dataclass

from infra.orphans import watch_supervisor
from infra.settings import Settings


@dataclass(frozen=True)
class NodeStart:
    args: argparse.Namespace
    settings: Settings
    bootstrap: str


def node_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with ``--upstream`` and ``--bootstrap``; add the node's own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--upstream", required=True, help="base URL of the mixing node or a relay")
    parser.add_argument("--bootstrap", help="Kafka bootstrap (defaults to STOA_KAFKA_BOOTSTRAP)")
    return parser


def start_node(parser: argparse.ArgumentParser) -> NodeStart:
    """Parse, watch the supervisor (if any), log, and find the broker, or exit saying why."""
    watch_supervisor()
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    if not bootstrap:
        parser.error("no broker: pass --bootstrap or set STOA_KAFKA_BOOTSTRAP")
    return NodeStart(args, settings, bootstrap)


def store_node_arguments(description: str, what: str) -> argparse.ArgumentParser:
    """``node_arguments`` plus the options of a node that writes to the object store."""
    parser = node_arguments(description)
    parser.add_argument("--object-store", help="where to write (default STOA_OBJECT_STORE_URL)")
    parser.add_argument("--id", help=f"{what} id (default: a fresh one)")
    return parser


def store_node_identity(start: NodeStart, prefix: str) -> tuple[str, str]:
    """The node's id (``--id`` or a fresh ``prefix-…``) and the store URL it writes to."""
    node_id = start.args.id or f"{prefix}-{uuid.uuid4().hex[:8]}"
    return node_id, start.args.object_store or start.settings.object_store


async def until_stopped() -> None:
    """Wait for SIGTERM (the supervisor's stop, ``docker stop``) or SIGINT (Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
