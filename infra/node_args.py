"""The command line every media node shares: where the log is and whom it follows."""

import argparse
import logging
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
