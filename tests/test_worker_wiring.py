"""How the stream worker's agents are wired, checked on the app itself (no broker needed)."""

from collections import Counter
from pathlib import Path

from infra.settings import Settings
from streams.worker import build


def test_every_input_topic_has_one_reading_agent(tmp_path: Path) -> None:
    """Two agents on one topic let a rebalance strand a half-read record (``streams.folds``)."""
    app = build(Settings(data_dir=tmp_path), "127.0.0.1:9", web_port=6066)
    readers = Counter(topic for agent in app.agents.values() for topic in agent.channel.topics)
    assert readers, "the worker declares no agents"
    assert {topic: n for topic, n in readers.items() if n > 1} == {}
    assert {"stoa.commands", "stoa.room-events", "stoa.presence"} <= set(readers)
