"""A view of the log (the gateway's manifests here) tells a route when its own write is in."""

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


def published(manifests: ManifestReadModel) -> bool:
    m = manifests.recording(RID)
    return m is not None and m.published


def view() -> ManifestReadModel:
    """Not started: records are handed to it as its follower hands them."""
    return ManifestReadModel("127.0.0.1:9", cast(LogProducer, None))


async def test_until_wakes_on_the_record_that_makes_it_true() -> None:
    manifests = view()
    manifests._take(record(manifest(published=False), 0))
    waiting = asyncio.create_task(manifests.until(lambda: published(manifests), timeout=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    manifests._take(record(manifest(published=False), 1))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # news, but not the news it waits for
    manifests._take(record(manifest(published=True), 2))
    assert await asyncio.wait_for(waiting, 1)


async def test_until_answers_at_once_when_already_true_and_false_after_the_timeout() -> None:
    manifests = view()
    assert not await manifests.until(lambda: manifests.recording(RID) is not None, timeout=0.1)
    manifests._take(record(manifest(published=True), 0))
    assert await asyncio.wait_for(manifests.until(lambda: published(manifests), timeout=5), 0.1)
    assert not await manifests.until(lambda: not published(manifests), timeout=0.1)
