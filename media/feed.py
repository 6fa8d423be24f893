"""A room's stream from an upstream node, kept alive: the uplink of relays and segmenters.

A ``Feed`` subscribes to ``/v1/rooms/{id}/listen`` on the room's mixing node
or on a relay, in the listen protocol (CONTRACT.md), and hands every record
on, in seq order, exactly once. When the connection drops it reconnects (to
the next upstream the caller names, if the first is gone) and asks for the
seq after the last one it got, so the upstream's backfill ring fills the hole;
a hole the ring could not fill is reported as a gap. It stops for good when
the room ends or the upstream refuses the room.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp

from media.listen import FramingError, parse_text, split_message
from media.wrap import MOD32, unwrap

log = logging.getLogger("stoa.media.feed")

RETRY_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0)
"""Pauses between rounds of reconnection attempts (the last one repeats)."""
FINAL_STATUSES = frozenset({403, 404, 409})
"""Upstream answers that end the feed: the room is gone, over, or not ours to hear."""


class FeedSink(Protocol):
    def records(self, records: list[tuple[int, bytes]]) -> None:
        """New records, ``(wire seq, framed bytes)``, in seq order, none seen before."""

    def text(self, message: str, parsed: dict[str, Any]) -> None:
        """A text message from upstream (room state, tier, gap ...)."""

    def gap(self, first: int, last: int) -> None:
        """Seqs ``first``..``last`` (wire values) were lost for good upstream of this feed."""


class Feed:
    """One room's stream, from whichever upstream answers first, resumed across reconnects."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        room_id: str,
        upstreams: Callable[[], Sequence[str]],
        token: Callable[[], str],
        sink: FeedSink,
        start_at: int | None = None,
    ) -> None:
        """``start_at``: the first seq wanted (a resuming subscriber's), else live."""
        self._http = http
        self.room_id = room_id
        self._upstreams = upstreams
        self._token = token
        self._sink = sink
        self.last_seq: int | None = (start_at - 1) if start_at is not None else None
        """The newest seq handed on, unwrapped."""
        self.upstream: str | None = None
        self.connected = asyncio.Event()
        self.finished = asyncio.Event()
        self.final_status: int | None = None
        """Why the feed stopped: the upstream's refusal, or 200 when the room ended."""
        self.connections = 0
        self.gaps = 0

    def _url(self, base: str) -> str:
        url = f"{base.rstrip('/')}/v1/rooms/{self.room_id}/listen?token={self._token()}"
        if self.last_seq is not None:
            url += f"&from={(self.last_seq + 1) % MOD32}"
        return url

    async def run(self) -> None:
        """Follow the room until it ends or is refused; cancel to stop earlier."""
        rounds = 0
        try:
            while not self.finished.is_set():
                for base in list(self._upstreams()):
                    if await self._follow(base):
                        rounds = 0
                    if self.finished.is_set():
                        return
                await asyncio.sleep(RETRY_SECONDS[min(rounds, len(RETRY_SECONDS) - 1)])
                rounds += 1
        finally:
            self.connected.clear()
            self.finished.set()

    async def _follow(self, base: str) -> bool:
        """Read from one upstream until it goes away; True if it answered at all."""
        try:
            async with self._http.ws_connect(
                self._url(base),
                max_msg_size=0,
                heartbeat=2.0,
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
            ) as ws:
                self.upstream = base
                self.connections += 1
                self.connected.set()
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        self._binary(message.data)
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        self._text(message.data)
                return True
        except aiohttp.WSServerHandshakeError as refused:
            if refused.status in FINAL_STATUSES:
                log.info("feed %s: %s refused the room (%d)", self.room_id, base, refused.status)
                self.final_status = refused.status
                self.finished.set()
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("feed %s: %s unreachable (%s)", self.room_id, base, exc)
            return False
        finally:
            self.connected.clear()

    def _binary(self, data: bytes) -> None:
        try:
            records = split_message(data)
        except FramingError as exc:
            log.warning("feed %s: dropped a malformed message (%s)", self.room_id, exc)
            return
        fresh: list[tuple[int, bytes]] = []
        for seq, record in records:
            unwrapped = unwrap(seq, self.last_seq, MOD32)
            if self.last_seq is not None:
                if unwrapped <= self.last_seq:
                    continue  # backfill we already had, or a duplicate across upstreams
                if unwrapped > self.last_seq + 1:
                    self._lost(self.last_seq + 1, unwrapped - 1)
            self.last_seq = unwrapped
            fresh.append((seq, record))
        if fresh:
            self._sink.records(fresh)

    def _text(self, message: str) -> None:
        parsed = parse_text(message)
        if parsed["type"] == "gap":
            return  # the seq jump that follows is what counts (reported once, in ``_binary``)
        self._sink.text(message, parsed)
        if parsed["type"] == "room" and parsed.get("status") == "ended":
            self.final_status = 200
            self.finished.set()

    def _lost(self, first: int, last: int) -> None:
        self.gaps += 1
        self._sink.gap(first % MOD32, last % MOD32)


async def stop(task: "asyncio.Task[Any] | None") -> None:
    """Cancel a feed's task and wait for it."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
