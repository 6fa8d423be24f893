"""The record written to ``stoa.dead-letter`` for a message no consumer could use."""

from pydantic import Field

from schemas.base import UtcDatetime, WireModel


class DeadLetter(WireModel):
    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    consumer: str = Field(description="Which consumer gave up on the message")
    error: str = Field(description="Why it could not be processed, for a human")
    payload_b64: str = Field(description="The original bytes, base64, unchanged")
    received_at: UtcDatetime
