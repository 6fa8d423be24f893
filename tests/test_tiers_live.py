"""A room's audience grows past the tier thresholds and shrinks back: events and moves.

The audience is presence batches appended to ``stoa.presence`` (as edges
would), so the real presence agent counts them and decides the tier; one real
listener, who joined over HTTP while the room was small, is followed through
its moves (mixing node → relay → mixing node) and must not miss a seq.
"""

import asyncio
import json
import subprocess
from pathlib import Path

import aiohttp
import pytest

from events.producer import LogProducer
from infra.localstack import Stack
from media import clients
from schemas.topics import MEDIA_EVENTS
from tests.kafka_client import consume
from tests.media_clients import (
    Audience,
    Joined,
    act,
    dev_token,
    eventually,
    join,
    live_room,
    speech_packets,
    talking,
)

pytestmark = pytest.mark.slow


def tiers_logged(bootstrap: str, room_id: str) -> list[str]:
    return [
        json.loads(m["payload"])["data"]["tier"]
        for m in consume(bootstrap, MEDIA_EVENTS.name)
        if m["key"] == room_id and b"DistributionTierChanged" in m["payload"]
    ]


async def test_a_growing_audience_moves_passive_listeners_to_relays_and_back(
    stack: Stack, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await asyncio.to_thread(stack.start_relay)
    packets = speech_packets(tmp_path, "The room grows and shrinks again.", 60)
    room_id, _ = await live_room(http, "tier-host", title="growing")
    async with talking(http, room_id, "tier-host", packets) as host:
        await grow_and_shrink(stack, http, room_id, host)


async def grow_and_shrink(
    stack: Stack, http: aiohttp.ClientSession, room_id: str, host: Joined
) -> None:
    listener = await join(http, room_id, "tier-listener")
    assert listener.body["listen"]["tier"] == "direct"
    ears = clients.FollowingListener()
    following = asyncio.create_task(ears.run(http, listener.body["listen"]["websocket"]))
    producer = await LogProducer(stack.broker.bootstrap, "test-audience").start()
    audience = Audience(producer, room_id)
    origin = stack.gateway_url.replace("http://", "ws://")
    try:
        assert await eventually(lambda: len(ears.seqs) > 50)
        assert ears.where.startswith(origin)

        await audience.change(range(150), joined=True)
        # the test's own relay, or any other relay of the session's stack: not the mixing node
        assert await eventually(lambda: bool(ears.where) and not ears.where.startswith(origin)), (
            ears.paths,
            ears.moves,
            ears.errors,
        )
        before = len(ears.seqs)
        assert await eventually(lambda: len(ears.seqs) > before + 50)
        newcomer = await join(http, room_id, "tier-newcomer")
        assert newcomer.body["listen"]["tier"] == "relay"
        assert not newcomer.body["listen"]["websocket"].startswith(origin)
        assert newcomer.body["listen"]["fallbacks"][-1].startswith(origin)
        assert host.body["listen"]["websocket"].startswith(origin)  # joined while direct
        again = await join(http, room_id, "tier-host")
        assert again.body["listen"]["websocket"].startswith(origin)  # on stage: stays close

        await audience.change(range(150), joined=False)
        assert await eventually(lambda: ears.where.startswith(origin) and len(ears.paths) >= 3)
        before = len(ears.seqs)
        assert await eventually(lambda: len(ears.seqs) > before + 50)
        assert ears.missing() == 0 and ears.reported == 0, (ears.missing(), ears.reported)
        assert [m["tier"] for m in ears.moves] == ["relay", "direct"]
        logged = await asyncio.to_thread(tiers_logged, stack.broker.bootstrap, room_id)
        assert logged == ["relay", "direct"]
    finally:
        following.cancel()
        await producer.stop()


async def test_a_crowd_moves_passive_listeners_to_hls_and_back_without_a_gap(
    stack: Stack,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    segmenter: subprocess.Popen[bytes],
) -> None:
    packets = speech_packets(tmp_path, "A crowd comes and goes.", 70)
    room_id, _ = await live_room(http, "crowd-host", title="crowded")
    async with talking(http, room_id, "crowd-host", packets):
        await crowd_comes_and_goes(stack, http, room_id)


async def crowd_comes_and_goes(stack: Stack, http: aiohttp.ClientSession, room_id: str) -> None:
    listener = await join(http, room_id, "crowd-listener")

    async def rejoin() -> str:
        again = await join(http, room_id, "crowd-listener")
        return str(again.body["listen"]["websocket"])

    ears = clients.FollowingListener(rejoin=rejoin)
    following = asyncio.create_task(ears.run(http, listener.body["listen"]["websocket"]))
    producer = await LogProducer(stack.broker.bootstrap, "test-crowd").start()
    audience = Audience(producer, room_id)
    try:
        assert await eventually(lambda: len(ears.seqs) > 50)
        await audience.change(range(1100), joined=True)
        assert await eventually(lambda: "/hls/" in ears.where, timeout=30), (
            ears.paths,
            ears.moves,
            ears.errors,
            ears.statuses,
        )
        newcomer = await join(http, room_id, "crowd-newcomer")
        assert newcomer.body["listen"]["tier"] == "hls"
        assert newcomer.body["listen"]["preferred"] == "hls"
        hand = await dev_token(http, "crowd-hand")
        await act(http, hand, "POST", f"/v1/rooms/{room_id}/join")
        await act(http, hand, "POST", f"/v1/rooms/{room_id}/hand")
        raised = await join(http, room_id, "crowd-hand")
        assert raised.body["listen"]["preferred"] == "websocket"  # about to speak: stays close
        assert raised.body["listen"]["websocket"].startswith(
            stack.gateway_url.replace("http", "ws")
        )
        before = len(ears.seqs)
        assert await eventually(lambda: len(ears.seqs) > before + 100, timeout=20)

        await audience.change(range(1100), joined=False)
        assert await eventually(lambda: "/hls/" not in ears.where, timeout=20), ears.paths
        before = len(ears.seqs)
        assert await eventually(lambda: len(ears.seqs) > before + 50)
        assert ears.missing() == 0 and ears.reported == 0, (ears.missing(), ears.reported)
        logged = await asyncio.to_thread(tiers_logged, stack.broker.bootstrap, room_id)
        assert logged == ["relay", "hls", "relay", "direct"], logged  # batches of 500
    finally:
        following.cancel()
        await producer.stop()
