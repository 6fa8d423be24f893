"""The backfill ring and pre-framed WebSocket messages, without a network."""

import asyncio

import aiohttp
from aiohttp import web

from media.listen import encode_record, split_message
from media.ring import FrameRing, Gap
from media.wrap import MOD32
from media.wsframe import binary_frame, text_frame


def record(seq: int) -> bytes:
    return encode_record(seq, 1_000 + seq, bytes([seq % 256]) * 3)


def test_a_resuming_subscriber_gets_everything_from_its_next_seq() -> None:
    ring = FrameRing(10)
    for seq in range(100, 110):
        ring.append(seq, record(seq))
    records, gap = ring.since(105)
    assert [seq for seq, _ in split_message(b"".join(records))] == [105, 106, 107, 108, 109]
    assert gap is None


def test_a_range_older_than_the_ring_is_reported_as_a_gap() -> None:
    ring = FrameRing(5)
    for seq in range(0, 20):
        ring.append(seq, record(seq))
    records, gap = ring.since(10)
    assert gap == Gap(10, 14) and gap.frames == 5
    assert [seq for seq, _ in split_message(b"".join(records))] == [15, 16, 17, 18, 19]


def test_the_ring_follows_seqs_across_the_wrap() -> None:
    ring = FrameRing(8)
    for n in range(8):
        ring.append((MOD32 - 4 + n) % MOD32, record(n))
    records, gap = ring.since(MOD32 - 1)
    assert gap is None and len(records) == 5
    assert ring.since(3) == ([records[-1]], None)


def test_duplicates_and_late_frames_do_not_enter_the_ring() -> None:
    ring = FrameRing(4)
    assert ring.append(7, record(7)) == 7
    assert ring.append(7, record(7)) is None
    assert ring.append(6, record(6)) is None
    assert len(ring) == 1


def test_a_subscriber_ahead_of_the_ring_gets_nothing_old() -> None:
    ring = FrameRing(4)
    ring.append(3, record(3))
    assert ring.since(4) == ([], None)


async def test_prebuilt_frames_are_read_by_a_websocket_client() -> None:
    """Frames written straight to the transport are what any client library reads."""
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 70_000]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.transport is not None
        for payload in payloads:
            request.transport.write(binary_frame(payload))
        request.transport.write(text_frame('{"type":"room"}'))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/ws", max_msg_size=0) as ws,
        ):
            got = [await asyncio.wait_for(ws.receive(), 5) for _ in range(5)]
    finally:
        await runner.cleanup()
    assert [m.data for m in got[:4]] == payloads
    assert got[4].type == aiohttp.WSMsgType.TEXT and got[4].data == '{"type":"room"}'
