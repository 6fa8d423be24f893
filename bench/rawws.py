"""A lean WebSocket client of the listen protocol, for audiences of thousands in one process.

A general client library spends tens of microseconds per message, so one
process could not play 10,000 listeners of a relay. This one is an
``asyncio.Protocol`` that speaks just enough RFC 6455 for a listener: the
upgrade handshake, unmasked server frames (text, binary, close, ping), masked
pong and close frames of its own; each binary message's records are read
for their seq and capture time and nothing else.
"""

import asyncio
import base64
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

HEADER = struct.Struct(">BIQH")


@dataclass
class Tally:
    """What one listener heard, across all its connections (a resume continues the tally)."""

    sample_every: int = 10
    sampling: bool = True
    """Whether delays are being kept (a bench turns it on once everyone has connected)."""
    first_seq: int | None = None
    last_seq: int | None = None
    frames: int = 0
    missing: int = 0
    """Seqs skipped without a gap message saying so: lost silently."""
    reported: int = 0
    """Seqs the server said it could not send (gap messages)."""
    reported_unmatched: int = 0
    """Reported seqs not yet matched by a jump in the seqs received."""
    delays_us: list[float] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False

    def text(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "gap":
            frames = (int(message["to"]) - int(message["from"])) % (1 << 32) + 1
            self.reported += frames
            self.reported_unmatched += frames
        elif kind == "moved":
            self.moved.append(message)
        elif kind == "room" and message.get("status") == "ended":
            self.ended = True


class Listener(asyncio.Protocol):
    """One connection, counting into a ``Tally``."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            data = bytes(self.buffer[end + 4 :])
            self.buffer.clear()
            if b" 101 " not in status:
                self.connected.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            self.connected.set_result(None)
        elif self.buffer:  # the rest of a frame that came in pieces
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        used = self._frames(data)
        if used < len(data):
            self.buffer += data[used:]

    # --- RFC 6455 --------------------------------------------------------------

    def _frames(self, data: bytes) -> int:
        """Handle every complete frame in ``data``; returns how many bytes they took."""
        offset, size = 0, len(data)
        while size - offset >= 2:
            opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length, head = (data[offset + 2] << 8) | data[offset + 3], 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, head = struct.unpack_from(">Q", data, offset + 2)[0], 10
            if size - offset < head + length:
                break
            start = offset + head
            if opcode == 2:
                self._records(data, start, start + length)
            elif opcode == 1:
                self.tally.text(json.loads(data[start : start + length]))
            elif opcode == 9:
                self._send(10, data[start : start + length])
            elif opcode == 8:
                self._send(8, b"")
                assert self.transport is not None
                self.transport.close()
            offset = start + length
        return offset

    def _records(self, data: bytes, start: int, end: int) -> None:
        tally = self.tally
        unpack, header = HEADER.unpack_from, HEADER.size
        last = tally.last_seq
        while start < end:
            _, seq, capture_us, length = unpack(data, start)
            start += header + length
            if last is not None:
                if seq <= last:
                    continue  # backfill it already had
                if seq > last + 1:
                    skipped = seq - last - 1
                    explained = min(skipped, tally.reported_unmatched)
                    tally.reported_unmatched -= explained
                    tally.missing += skipped - explained
            else:
                tally.first_seq = seq
            last = seq
            tally.frames += 1
            # sampled by seq, not by arrival: relays send frames in batches, and every Nth
            # arrival would always be the same place in a batch
            if tally.sampling and (seq * 7919) % tally.sample_every == 0:
                tally.delays_us.append(time.time_ns() / 1000 - capture_us)
        tally.last_seq = last

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked client frame (payloads here are short)."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self._send(8, b"")
        if self.transport is not None:
            self.transport.close()


async def connect(url: str, tally: Tally) -> Listener:
    """Open ``ws://host:port/path?query`` and finish the upgrade; raises if it is refused.

    A tally that has a last seq asks to resume after it (``from``).
    """
    if tally.last_seq is not None:
        url += f"&from={(tally.last_seq + 1) % (1 << 32)}"
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    _, protocol = await loop.create_connection(lambda: Listener(tally), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert protocol.transport is not None
    protocol.transport.write(request.encode())
    await protocol.connected
    return protocol
