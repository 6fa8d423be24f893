"""Topic creation from the registry in ``schemas.topics``."""

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import ALL_TOPICS, TopicSpec


def new_topic(spec: TopicSpec, partitions: int, replication: int = 1) -> NewTopic:
    configs = {"cleanup.policy": "compact"} if spec.compacted else {}
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    return NewTopic(spec.name, partitions, replication, topic_configs=configs)


async def ensure_topics(
    bootstrap: str, partitions: int, specs: tuple[TopicSpec, ...] = ALL_TOPICS
) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [new_topic(s, partitions) for s in specs if s.name not in existing]
        if wanted:
            # another process may win the race; the topic is there either way
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()
