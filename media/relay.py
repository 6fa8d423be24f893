"""Fan-out at a relay: one room's records from upstream to every subscriber, as they came.

A relay never decodes or re-encodes. Each record from the ``Feed`` goes into
the room's backfill ring and then to every subscriber: child relays get every
frame as it arrives; passive listeners may take several frames per message
(``batch``), which cuts the relay's cost per listener by as much (one send per
message is where the time goes) for a delay of up to ``batch`` frames. A
message is framed once per batch group and the finished WebSocket frame is
written to each subscriber's transport (``media.wsframe``).

A slow subscriber never slows the others. Before each write the relay looks
at how much is still waiting in that subscriber's transport: above
``SLOW_BYTES`` the subscriber is skipped (the frames are counted as its gap
and it is told the range when it catches up), and one still behind after
``DROP_AFTER_SECONDS`` is disconnected.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from media.listen import gap_message, parse_text
from media.ring import BACKFILL_FRAMES, FrameRing
from media.wrap import MOD32
from media.wsframe import binary_frame, text_frame
from schemas.room import Role

log = logging.getLogger("stoa.relay")

SLOW_BYTES = 16_384
"""Bytes waiting in a subscriber's transport (about 2 s at 64 kbps) before it counts as slow."""
DROP_AFTER_SECONDS = 5.0
FLUSH_AFTER_SECONDS = 0.25
"""A partial batch goes out after this long even if the stream paused (the room went quiet)."""


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...


@dataclass(eq=False)
class Subscriber:
    """One downstream connection: a child relay (``user_id`` empty) or a person listening."""

    transport: Transport
    user_id: str
    batch: int
    hang_up: Callable[[int, str], None]
    """Close the connection with a WebSocket close code and reason."""
    token_role: Role = "listener"
    """The role the subscriber's media token was issued for (re-admission asks with it)."""
    moved_to: str | None = None
    """The path this subscriber was told to move to, so it is told once."""
    sent: int = 0
    skipped: int = 0
    gaps: int = 0
    _skipped_from: int | None = None
    _skipped_to: int = 0
    _behind_since: float = 0.0
    closed: bool = False

    @property
    def is_relay(self) -> bool:
        return not self.user_id

    def write(self, data: bytes, first: int, last: int) -> None:
        """Send a message carrying seqs ``first``..``last``, unless the subscriber is behind."""
        if self.closed or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() > SLOW_BYTES:
            now = time.monotonic()
            if self._skipped_from is None:
                self._skipped_from, self._behind_since = first, now
            self._skipped_to = last
            self.skipped += (last - first) % MOD32 + 1
            if now - self._behind_since > DROP_AFTER_SECONDS:
                self.close(1008, "too far behind the room")
            return
        if self._skipped_from is not None:
            self.transport.write(text_frame(gap_message(self._skipped_from, self._skipped_to)))
            self.gaps += 1
            self._skipped_from = None
        self.transport.write(data)
        self.sent += 1

    def tell(self, framed_text: bytes) -> None:
        if not (self.closed or self.transport.is_closing()):
            self.transport.write(framed_text)

    def tell_text(self, text: str) -> None:
        self.tell(text_frame(text))

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.hang_up(code, reason)


@dataclass(eq=False)
class BatchGroup:
    """Subscribers taking ``batch`` frames per message, sent after each frame whose seq is
    ``phase`` modulo ``batch``; and the frames not sent yet.

    A room's listeners of one batch size are spread over ``batch`` phases, so a relay
    with 10,000 listeners at 10 frames per message writes to 1,000 of them every 20 ms
    instead of to all of them every 200 ms: the same work, without a burst that would
    delay the last listener of the loop (and its own next frame) by the whole loop.
    """

    batch: int
    phase: int = 0
    members: set[Subscriber] = field(default_factory=set)
    pending: list[bytes] = field(default_factory=list)
    first: int = 0
    last: int = 0
    _timer: asyncio.TimerHandle | None = None

    def add(self, seq: int, record: bytes) -> None:
        if not self.pending:
            self.first = seq
            if self.batch > 1 and self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(FLUSH_AFTER_SECONDS, self.flush)
        self.pending.append(record)
        self.last = seq
        if seq % self.batch == self.phase or len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.pending:
            return
        if self.members:
            data = binary_frame(b"".join(self.pending))
            for member in self.members:
                member.write(data, self.first, self.last)
        self.pending.clear()


class RelayRoom:
    """One room at this relay: backfill ring, subscribers by batch size, the last texts."""

    def __init__(self, room_id: str, ring_frames: int = BACKFILL_FRAMES) -> None:
        self.room_id = room_id
        self.ring = FrameRing(ring_frames)
        self.groups: dict[tuple[int, int], BatchGroup] = {}
        """By (frames per message, phase)."""
        self.texts: dict[str, str] = {}
        """The latest text message of each kind (``room``, ``tier``, ``captions`` health,
        each speaker's ``activity`` while talking): told to newcomers."""
        self.frames = 0
        self.gaps = 0

    @property
    def subscribers(self) -> list[Subscriber]:
        return [s for group in self.groups.values() for s in group.members]

    def subscribe(self, subscriber: Subscriber, resume_from: int | None) -> None:
        """Add a subscriber; with ``resume_from`` (a wire seq), first send what it missed."""
        group = self._group_for(subscriber.batch)
        for text in self.texts.values():
            subscriber.tell(text_frame(text))
        if resume_from is not None:
            records, gap = self.ring.since(resume_from)
            if gap is not None:
                subscriber.tell(text_frame(gap_message(gap.first, gap.last)))
                subscriber.gaps += 1
            # what the group has pending comes with its next message; send only the rest
            backlog = records[: max(0, len(records) - len(group.pending))]
            for start in range(0, len(backlog), max(subscriber.batch, 10)):
                chunk = backlog[start : start + max(subscriber.batch, 10)]
                subscriber.transport.write(binary_frame(b"".join(chunk)))
        group.members.add(subscriber)

    def _group_for(self, batch: int) -> BatchGroup:
        """The phase of ``batch`` with the fewest members (every phase exists once one does)."""
        for phase in range(batch):
            self.groups.setdefault((batch, phase), BatchGroup(batch, phase))
        return min(
            (self.groups[(batch, phase)] for phase in range(batch)),
            key=lambda group: len(group.members),
        )

    def unsubscribe(self, subscriber: Subscriber) -> None:
        for group in self.groups.values():
            if group.batch == subscriber.batch:
                group.members.discard(subscriber)

    def records(self, records: list[tuple[int, bytes]]) -> None:
        """Records from upstream, in order and new: keep them and send them on."""
        for seq, record in records:
            unwrapped = self.ring.append(seq, record)
            if unwrapped is None:
                continue
            self.frames += 1
            for group in self.groups.values():
                group.add(seq, record)

    def text(self, message: str, kind: str) -> None:
        """A text message for everyone here; the newest of each kind is kept for newcomers
        (and who is talking now, one message per speaker)."""
        if kind in ("room", "tier", "captions"):
            self.texts[kind] = message
        elif kind == "activity":
            said = parse_text(message)
            key = f"activity:{said.get('user_id')}"
            if said.get("talking"):
                self.texts[key] = message
            else:
                self.texts.pop(key, None)
        self.flush()
        framed = text_frame(message)
        for subscriber in self.subscribers:
            subscriber.tell(framed)

    def gap(self, first: int, last: int) -> None:
        """Upstream lost these seqs for good: every subscriber is told."""
        self.gaps += 1
        self.text(gap_message(first, last), "gap")

    def flush(self) -> None:
        for group in self.groups.values():
            group.flush()

    def close(self, code: int, reason: str, final: str | None = None) -> None:
        """Close every subscriber (the room ended, or the relay stops)."""
        self.flush()
        framed = text_frame(final) if final is not None else None
        for subscriber in self.subscribers:
            if framed is not None:
                subscriber.tell(framed)
            subscriber.close(code, reason)

    def stats(self) -> dict[str, Any]:
        subscribers = self.subscribers
        return {
            "listeners": sum(not s.is_relay for s in subscribers),
            "relays": sum(s.is_relay for s in subscribers),
            "skipped": sum(s.skipped for s in subscribers),
        }
