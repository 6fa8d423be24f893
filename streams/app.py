"""The Faust application, configured once for every worker.

Its settings are tuned for the embedded broker and for the room writer's
latency (commits every 2 s instead of 0.5 s, which stalled the writer), and it
consumes through the low-latency transport of ``streams.faust_compat``.
"""

from pathlib import Path
from typing import Any

import faust
from faust.types import Message

from events.deadletter import RawRecord
from schemas import topics as t
from streams.faust_compat import LowLatencyTransport


def create_app(
    bootstrap: str,
    *,
    partitions: int,
    data_dir: Path,
    web_port: int = 6066,
    session_timeout: float = 6.0,
    app_id: str = "stoa",
) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(data_dir / "faust"),
        topic_partitions=partitions,
        topic_allow_declare=True,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger_ms=0,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(1.0, session_timeout / 3),
        broker_rebalance_timeout=max(10.0, session_timeout * 2),
        broker_request_timeout=max(30.0, session_timeout * 2),
        broker_commit_interval=2.0,
        web_enabled=False,
        web_port=web_port,
        table_cleanup_interval=3600.0,
    )
    app.transport = LowLatencyTransport(app.conf.broker_consumer, app)
    return app


def raw_topic(app: faust.App, *specs: t.TopicSpec, partitions: int) -> Any:
    """A channel of undecoded bytes: agents decode themselves so failures can be dead-lettered."""
    return app.topic(
        *(s.name for s in specs),
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def raw_record(message: Message) -> RawRecord:
    """Where a message of a raw topic came from (Faust stamps in seconds, Kafka in ms)."""
    stamp = round(message.timestamp * 1000)
    return RawRecord(
        message.topic, message.partition, message.offset, message.key, message.value, stamp
    )
