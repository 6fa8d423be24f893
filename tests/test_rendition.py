"""Reading a rendition as the gateway does: blocking reloads and preload hints (LL-HLS).

The segmenter's output goes into an in-memory object store through the same
``RenditionStore`` the segmenter node writes with; the gateway's reads are
checked against it while more of the room is written.
"""

import asyncio
import time

import numpy as np
import pytest

from infra.objects import ObjectStoreClient, open_store
from media.opus import OpusEncoder
from media.rendition import NotYet, RenditionStore, TooFarAhead
from media.segmenter import Segmenter, Update

ROOM = "room-1"


@pytest.fixture
def packet() -> bytes:
    return OpusEncoder().encode(np.zeros(960, np.float32))


async def write(store: RenditionStore, segmenter: Segmenter, seqs: range, packet: bytes) -> None:
    update = Update()
    for seq in seqs:
        update = update.merge(segmenter.push(seq, seq * 20_000, packet))
    await store.write(ROOM, update)


def new_store() -> RenditionStore:
    return RenditionStore(ObjectStoreClient(open_store("memory://")))


async def test_a_room_without_a_playlist_reads_as_missing() -> None:
    store = new_store()
    assert await store.playlist(ROOM) is None
    assert await store.playlist_with(ROOM, 3, 0) is None
    assert await store.media(ROOM, "3.0.m4s") is None


async def test_a_blocking_reload_is_answered_when_its_part_is_listed(packet: bytes) -> None:
    store, segmenter = new_store(), Segmenter()
    await write(store, segmenter, range(0, 71), packet)  # segment 0, parts 1.0 and 1.1
    started = time.monotonic()
    waiting = asyncio.create_task(store.playlist_with(ROOM, 1, 2))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await write(store, segmenter, range(71, 81), packet)  # part 1.2 is out
    text = await asyncio.wait_for(waiting, 1) or ""
    assert 'URI="1.2.m4s"' in text and time.monotonic() - started < 0.5


async def test_a_blocking_reload_too_far_ahead_is_refused_and_one_that_never_comes_times_out(
    packet: bytes,
) -> None:
    store, segmenter = new_store(), Segmenter()
    await write(store, segmenter, range(0, 51), packet)
    with pytest.raises(TooFarAhead):
        await store.playlist_with(ROOM, 9, None)
    with pytest.raises(NotYet):
        await store.playlist_with(ROOM, 2, None, hold=0.2)


async def test_a_hinted_part_is_served_as_soon_as_it_is_written(packet: bytes) -> None:
    store, segmenter = new_store(), Segmenter()
    await write(store, segmenter, range(0, 51), packet)  # the hint is now 1.0
    waiting = asyncio.create_task(store.media(ROOM, "1.0.m4s"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await write(store, segmenter, range(51, 61), packet)
    assert (await asyncio.wait_for(waiting, 1) or b"")[4:8] == b"moof"
    assert await store.media(ROOM, "0.m4s") is not None
    assert await store.media(ROOM, "7.0.m4s", hold=0.1) is None  # too far ahead to wait
