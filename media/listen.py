"""The WebSocket listen protocol (CONTRACT.md), as pure functions.

Binary message: one or more records, each ``kind`` (1 byte, 1 = Opus packet),
``seq`` (4 bytes, big-endian, wraps at 2**32), ``capture_us`` (8 bytes,
big-endian, microseconds since the Unix epoch), ``length`` (2 bytes,
big-endian) and the Opus packet (48 kHz mono, 20 ms). Text message: JSON with
a ``type``: ``room`` today (CONTRACT.md also reserves ``caption`` and ``moved``).

The server encodes and the tests and benches decode with the same functions,
so a framing change cannot pass one side and break the other silently.
"""

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

KIND_OPUS: Final = 1
HEADER: Final = struct.Struct(">BIQH")
"""kind, seq, capture_us, payload length: 15 bytes before each packet."""


@dataclass(frozen=True)
class OpusRecord:
    seq: int
    capture_us: int
    payload: bytes


class FramingError(ValueError):
    """A binary message that does not follow the listen protocol."""


def encode_record(seq: int, capture_us: int, payload: bytes) -> bytes:
    """One Opus packet as a record; ``seq`` is taken modulo 2**32."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"an Opus packet of {len(payload)} bytes does not fit the length field")
    return HEADER.pack(KIND_OPUS, seq & 0xFFFFFFFF, capture_us, len(payload)) + payload


def encode_records(records: Iterable[OpusRecord]) -> bytes:
    """Several records in one binary message (fewer sends per listener at large fan-out)."""
    return b"".join(encode_record(r.seq, r.capture_us, r.payload) for r in records)


def decode_message(data: bytes) -> list[OpusRecord]:
    """Every record of one binary message; unknown kinds are skipped, truncation is an error."""
    records: list[OpusRecord] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            raise FramingError(f"{len(data) - offset} trailing bytes are shorter than a header")
        kind, seq, capture_us, length = HEADER.unpack_from(data, offset)
        offset += HEADER.size
        if len(data) - offset < length:
            raise FramingError(f"record says {length} bytes, {len(data) - offset} remain")
        if kind == KIND_OPUS:
            records.append(OpusRecord(seq, capture_us, bytes(data[offset : offset + length])))
        offset += length
    return records


def room_message(state: dict[str, Any]) -> str:
    """The room's state as a text message: ``{"type": "room", ...state...}``."""
    return json.dumps({"type": "room", **state}, default=str, separators=(",", ":"))
