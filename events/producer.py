"""Producing to the log with the guarantees the embedded broker can give.

Tansu rejects ``InitProducerId``, so idempotent producers and transactions are
off; ``acks=all`` plus consumers that deduplicate by ``event_id``/``seq`` gives
effectively-once results on both Tansu and Kafka.
"""

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel


def producer_options() -> dict[str, Any]:
    return {"acks": "all", "enable_idempotence": False, "linger_ms": 0, "request_timeout_ms": 15000}


class LogProducer:
    def __init__(self, bootstrap: str, client_id: str = "stoa") -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, **producer_options()
        )

    async def start(self) -> "LogProducer":
        await self._producer.start()
        return self

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self,
        topic: str,
        key: str | None,
        value: BaseModel | bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Append and wait for the broker's acknowledgement."""
        payload = value if isinstance(value, bytes) else value.model_dump_json().encode()
        await self._producer.send_and_wait(
            topic, payload, key=key.encode() if key is not None else None, headers=headers
        )

    async def enqueue(self, topic: str, key: str | None, value: BaseModel) -> "asyncio.Future[Any]":
        """Hand a record to the producer; the returned future resolves on the broker's ack."""
        return await self._producer.send(
            topic, value.model_dump_json().encode(), key=key.encode() if key is not None else None
        )

    async def send_many(self, topic: str, items: list[tuple[str | None, BaseModel]]) -> None:
        """Append several records, pipelined, and wait for every acknowledgement."""
        futures = [
            await self._producer.send(
                topic, v.model_dump_json().encode(), key=k.encode() if k is not None else None
            )
            for k, v in items
        ]
        for future in futures:
            await future
