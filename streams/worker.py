"""Run one Stoa stream worker (``python -m streams.worker``); scale out by running more."""

import argparse
import asyncio
import gc
import logging
from pathlib import Path

import faust

from events.admin import ensure_topics
from infra.orphans import watch_supervisor
from infra.settings import Settings
from projections.room import RoomRules
from streams.agents import install
from streams.app import create_app


def build(settings: Settings, bootstrap: str, web_port: int) -> faust.App:
    app = create_app(
        bootstrap,
        partitions=settings.partitions,
        data_dir=settings.data_dir,
        web_port=web_port,
        session_timeout=settings.session_timeout,
    )
    install(
        app,
        partitions=settings.partitions,
        rules=RoomRules(speaker_cap=settings.speaker_cap, cohost_cap=settings.cohost_cap),
        thresholds=settings.tier_thresholds,
    )
    return app


def main() -> None:
    watch_supervisor()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap (defaults to STOA_KAFKA_BOOTSTRAP)")
    parser.add_argument("--web-port", type=int, default=None)
    parser.add_argument("--loglevel", default="warn")
    args = parser.parse_args()
    settings = Settings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    if not bootstrap:
        parser.error("no broker: pass --bootstrap or set STOA_KAFKA_BOOTSTRAP")
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(bootstrap, settings.partitions))
    app = build(settings, bootstrap, args.web_port or settings.worker_web_port)
    logging.getLogger("faust").setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG so it can spin on every
    # record: every aiokafka debug line is then formatted (measured: ~12% of a busy worker).
    worker.spinner = None
    gc.freeze()  # imports and app wiring never die: keep them out of every full collection
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
