"""The gateway's view of recording manifests: a route waits in it for its own write."""

import asyncio
import uuid
from typing import cast

from events.deadletter import RawRecord
from events.manifests import ManifestReadModel
from events.producer import LogProducer
from schemas.manifest import RecordingManifest
from schemas.topics import RECORDING_MANIFESTS

RID = uuid.uuid4()


def manifest(published: bool) -> RecordingManifest:
    return RecordingManifest(
        recording_id=RID, room_id="r1", host_id="h", title="T", published=published
    )


def record(m: RecordingManifest, offset: int) -> RawRecord:
    return RawRecord(RECORDING_MANIFESTS.name, 0, offset, b"r1", m.model_dump_json().encode())


def view() -> ManifestReadModel:
    """Not started: records are handed to it as its follower would."""
    return ManifestReadModel("127.0.0.1:9", cast(LogProducer, None))


async def test_until_wakes_on_the_record_that_makes_it_true() -> None:
    manifests = view()
    manifests._on_record(record(manifest(published=False), 0))
    waiting = asyncio.create_task(manifests.until(RID, lambda m: m.published, timeout=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    manifests._on_record(record(manifest(published=False), 1))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # news, but not the news it waits for
    manifests._on_record(record(manifest(published=True), 2))
    found = await asyncio.wait_for(waiting, 1)
    assert found is not None and found.published


async def test_until_answers_at_once_when_already_true_and_none_after_the_timeout() -> None:
    manifests = view()
    assert await manifests.until(RID, lambda m: True, timeout=0.1) is None  # never seen
    manifests._on_record(record(manifest(published=True), 0))
    assert await asyncio.wait_for(manifests.until(RID, lambda m: m.published, timeout=5), 0.1)
    assert await manifests.until(RID, lambda m: not m.published, timeout=0.1) is None
