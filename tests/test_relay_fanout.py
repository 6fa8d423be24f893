"""The relay's fan-out, with transports that record what they were given."""

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp
import pytest

from media import relay as r
from media.listen import encode_record, split_message
from media.relay import RelayRoom, Subscriber


@dataclass
class FakeTransport:
    """Parses what the relay writes back into WebSocket messages, like a client would."""

    buffered: int = 0
    closing: bool = False
    writes: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def messages(self) -> list[tuple[aiohttp.WSMsgType, bytes]]:
        out = []
        for data in self.writes:
            opcode, length = data[0] & 0x0F, data[1] & 0x7F
            offset = 2 + {126: 2, 127: 8}.get(length, 0)
            kind = aiohttp.WSMsgType.TEXT if opcode == 1 else aiohttp.WSMsgType.BINARY
            out.append((kind, data[offset:]))
        return out

    def seqs(self) -> list[int]:
        return [
            seq
            for kind, payload in self.messages()
            if kind == aiohttp.WSMsgType.BINARY
            for seq, _ in split_message(payload)
        ]

    def texts(self) -> list[dict[str, object]]:
        return [json.loads(p) for k, p in self.messages() if k == aiohttp.WSMsgType.TEXT]


def subscriber(batch: int = 1, user: str = "ann") -> tuple[Subscriber, FakeTransport, list[int]]:
    transport, closed = FakeTransport(), []
    sub = Subscriber(transport, user, batch, lambda code, reason: closed.append(code))
    return sub, transport, closed


def feed(room: RelayRoom, seqs: range) -> None:
    room.records([(s, encode_record(s, s * 20_000, b"\x01\x02")) for s in seqs])


async def test_every_frame_reaches_every_subscriber_once_and_in_order() -> None:
    room = RelayRoom("r")
    subs = [subscriber(batch=b) for b in (1, 1, 5)]
    for sub, _, _ in subs:
        room.subscribe(sub, None)
    feed(room, range(10, 30))
    room.flush()
    for _, transport, _ in subs:
        assert transport.seqs() == list(range(10, 30))
    one_per_message, batched = subs[0][1], subs[2][1]
    assert (
        len(one_per_message.writes) == 20 and len(batched.writes) == 5
    )  # 10 | 11-15 | ... | 26-29


async def test_listeners_of_one_batch_size_are_spread_over_its_phases() -> None:
    """Ten listeners at five frames per message: two per phase, so each frame flushes two."""
    room = RelayRoom("r")
    subs = [subscriber(batch=5, user=f"u{i}") for i in range(10)]
    for sub, _, _ in subs:
        room.subscribe(sub, None)
    feed(room, range(100, 101))  # seq 100 is phase 0
    assert sum(len(t.writes) for _, t, _ in subs) == 2
    feed(room, range(101, 110))
    room.flush()
    for _, transport, _ in subs:
        assert transport.seqs() == list(range(100, 110))


async def test_a_partial_batch_goes_out_when_the_stream_pauses() -> None:
    room = RelayRoom("r")
    sub, transport, _ = subscriber(batch=5)
    room.subscribe(sub, None)
    feed(room, range(1, 4))  # its phase (0) does not come: the stream paused mid-batch
    assert transport.seqs() == []
    await asyncio.sleep(r.FLUSH_AFTER_SECONDS + 0.1)
    assert transport.seqs() == [1, 2, 3]


async def test_a_resuming_subscriber_is_backfilled_without_duplicates() -> None:
    room = RelayRoom("r")
    early, _, _ = subscriber(batch=5)
    room.subscribe(early, None)
    feed(room, range(0, 12))  # two batches sent, two frames pending
    late, transport, _ = subscriber(batch=5)
    room.subscribe(late, resume_from=3)
    feed(room, range(12, 20))
    room.flush()
    assert transport.seqs() == list(range(3, 20))


async def test_a_slow_subscriber_is_skipped_told_its_gap_then_caught_up() -> None:
    room = RelayRoom("r")
    fast, fast_transport, _ = subscriber()
    slow, slow_transport, _ = subscriber()
    room.subscribe(fast, None)
    room.subscribe(slow, None)
    feed(room, range(0, 5))
    slow_transport.buffered = r.SLOW_BYTES + 1
    feed(room, range(5, 10))
    slow_transport.buffered = 0
    feed(room, range(10, 15))
    assert fast_transport.seqs() == list(range(15))
    assert slow_transport.seqs() == [*range(5), *range(10, 15)]
    assert slow_transport.texts() == [{"type": "gap", "from": 5, "to": 9}]
    assert slow.skipped == 5 and slow.gaps == 1


async def test_a_subscriber_that_stays_behind_is_disconnected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(r, "DROP_AFTER_SECONDS", 0.05)
    room = RelayRoom("r")
    sub, transport, closed = subscriber()
    room.subscribe(sub, None)
    transport.buffered = r.SLOW_BYTES + 1
    feed(room, range(0, 2))
    await asyncio.sleep(0.1)
    feed(room, range(2, 3))
    assert closed == [1008]


async def test_newcomers_hear_the_latest_room_state_and_tier() -> None:
    room = RelayRoom("r")
    room.text('{"type":"room","version":1}', "room")
    room.text('{"type":"room","version":2}', "room")
    room.text('{"type":"tier","tier":"relay"}', "tier")
    sub, transport, _ = subscriber()
    room.subscribe(sub, None)
    assert transport.texts() == [{"type": "room", "version": 2}, {"type": "tier", "tier": "relay"}]
