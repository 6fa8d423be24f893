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


def split_message(data: bytes) -> list[tuple[int, bytes]]:
    """Each record of a binary message as ``(seq, its framed bytes)``, for nodes that forward.

    A relay keeps and re-sends records as they came, so it reads only their
    headers; a truncated message is a ``FramingError``.
    """
    records: list[tuple[int, bytes]] = []
    offset = 0
    view = memoryview(data)
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            raise FramingError(f"{len(data) - offset} trailing bytes are shorter than a header")
        _, seq, _, length = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if end > len(data):
            raise FramingError(f"record says {length} bytes, {len(data) - offset} remain")
        records.append((seq, bytes(view[offset:end])))
        offset = end
    return records


def room_message(state: dict[str, Any]) -> str:
    """The room's state as a text message: ``{"type": "room", ...state...}``."""
    return json.dumps({"type": "room", **state}, default=str, separators=(",", ":"))


def gap_message(first: int, last: int) -> str:
    """Seqs ``first`` to ``last`` (inclusive) will not come on this connection.

    Sent when a resuming subscriber asks for frames the backfill ring no longer
    holds, or when a slow subscriber was skipped ahead to live.
    """
    return json.dumps({"type": "gap", "from": first, "to": last}, separators=(",", ":"))


def moved_message(url: str, kind: str, tier: str) -> str:
    """Listen at ``url`` (a ``websocket`` or ``hls`` URL) from now on: the room changed tier.

    The client starts the new path before it leaves this one and drops the
    seqs it has already played, so the switch has no gap.
    """
    return json.dumps(
        {"type": "moved", "url": url, "kind": kind, "tier": tier}, separators=(",", ":")
    )


def parse_text(message: str) -> dict[str, Any]:
    """A text message as a dict with a ``type`` (``{}``-like with type "" if it is not one)."""
    try:
        value = json.loads(message)
    except json.JSONDecodeError:
        return {"type": ""}
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else {"type": ""}


def tier_message(tier: str, origin: str) -> str:
    """The room's delivery tier, from the mixing node at ``origin``: relays act on it."""
    return json.dumps({"type": "tier", "tier": tier, "origin": origin}, separators=(",", ":"))


def activity_message(user_id: str, talking: bool) -> str:
    """A speaker started or stopped talking (the room page's speaking indicator)."""
    return json.dumps(
        {"type": "activity", "user_id": user_id, "talking": talking}, separators=(",", ":")
    )
