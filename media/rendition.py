"""A room's HLS rendition in the object store: written by the segmenter node, read by the gateway.

Keys are ``hls/{room_id}/index.m3u8``, ``hls/{room_id}/init.mp4`` and
``hls/{room_id}/{n}.m4s`` / ``{n}.{i}.m4s`` (segments, parts). Both sides go
through this module, so they cannot disagree on where things are, what they
are, or how long a cache may keep them.

Reading supports LL-HLS blocking requests: a playlist reload asking for a
segment or part that is not out yet, and a part named by a preload hint, are
held until the playlist lists it (or ``HOLD_SECONDS`` pass). Held requests
share one playlist read per room every ``POLL_SECONDS``, however many wait.
"""

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Final

from infra.objects import ObjectStoreClient
from media.playlist import Position, position
from media.segmenter import INIT, PLAYLIST, Update

log = logging.getLogger("stoa.hls")

PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"
MEDIA_TYPE: Final = "audio/mp4"
LIVE_PLAYLIST_CACHE: Final = "public, max-age=1"
"""A live playlist changes every part: a CDN may serve it for a second at most."""
HELD_PLAYLIST_CACHE: Final = "public, max-age=6"
"""A blocking reload's answer is for one (msn, part): any later answer is a superset."""
ENDED_PLAYLIST_CACHE: Final = "public, max-age=3600"
"""A closed playlist never changes again."""
MEDIA_CACHE: Final = "public, max-age=31536000, immutable"
"""A segment or part name always means the same bytes (its seqs), so it is cached for good."""
POLL_SECONDS: Final = 0.05
HOLD_SECONDS: Final = 3.0
"""Three target durations: how long a blocking request waits (RFC 8216bis 6.2.5.2)."""
ADVANCE_SEGMENTS: Final = 2
"""A blocking request more than this many segments ahead is refused at once."""

MEDIA_NAME = re.compile(r"^(?:init\.mp4|(?P<msn>[0-9]{1,12})(?:\.(?P<part>[0-9]{1,3}))?\.m4s)$")
"""The names a rendition's media objects may have."""


def key(room_id: str, name: str) -> str:
    return f"hls/{room_id}/{name}"


def content_type(name: str) -> str:
    return PLAYLIST_TYPE if name == PLAYLIST else MEDIA_TYPE


class TooFarAhead(Exception):
    """A blocking request for a segment too far past the playlist's end."""


class NotYet(Exception):
    """A blocking request whose segment or part did not come within ``HOLD_SECONDS``."""


@dataclass
class _Read:
    at: float
    text: str | None


class RenditionStore:
    def __init__(self, objects: ObjectStoreClient) -> None:
        self.objects = objects
        self._playlists: dict[str, _Read] = {}
        self._reading: dict[str, asyncio.Task[str | None]] = {}

    # --- writing (the segmenter node) ----------------------------------------

    async def write(self, room_id: str, update: Update) -> None:
        """Media first, then the playlist that lists it, then what left the playlist."""
        await asyncio.gather(
            *(
                self.objects.put(key(room_id, name), data, MEDIA_TYPE, MEDIA_CACHE)
                for name, data in update.objects
            )
        )
        if update.playlist is not None:
            ended = "#EXT-X-ENDLIST" in update.playlist
            cache = ENDED_PLAYLIST_CACHE if ended else LIVE_PLAYLIST_CACHE
            await self.objects.put(
                key(room_id, PLAYLIST), update.playlist.encode(), PLAYLIST_TYPE, cache
            )
        await self.objects.delete([key(room_id, name) for name in update.deletes])

    # --- reading (the gateway) -----------------------------------------------

    async def playlist(self, room_id: str) -> str | None:
        """The stored playlist, read at most once per ``POLL_SECONDS`` per room."""
        cached = self._playlists.get(room_id)
        if cached is not None and time.monotonic() - cached.at < POLL_SECONDS:
            return cached.text
        reading = self._reading.get(room_id)
        if reading is None:
            reading = asyncio.create_task(self._read_playlist(room_id))
            self._reading[room_id] = reading
        return await asyncio.shield(reading)

    async def _read_playlist(self, room_id: str) -> str | None:
        try:
            data = await self.objects.get(key(room_id, PLAYLIST))
            text = data.decode() if data is not None else None
            self._playlists[room_id] = _Read(time.monotonic(), text)
            if len(self._playlists) > 10_000:
                self._forget_old()
            return text
        finally:
            self._reading.pop(room_id, None)

    def _forget_old(self) -> None:
        old = time.monotonic() - 10
        for room_id in [r for r, read in self._playlists.items() if read.at < old]:
            del self._playlists[room_id]

    async def playlist_with(
        self, room_id: str, msn: int, part: int | None, hold: float = HOLD_SECONDS
    ) -> str | None:
        """The playlist once it lists segment ``msn`` (or its part ``part``): a blocking reload.

        ``None`` if there is no playlist; ``TooFarAhead`` or ``NotYet`` as RFC 8216bis says.
        """
        text = await self.playlist(room_id)
        if text is None:
            return None
        if position(text).last_msn + ADVANCE_SEGMENTS < msn:
            raise TooFarAhead(msn)
        return await self._until(room_id, text, msn, part, hold)

    async def _until(self, room_id: str, text: str, msn: int, part: int | None, hold: float) -> str:
        deadline = time.monotonic() + hold
        while not position(text).has(msn, part):
            if time.monotonic() >= deadline:
                raise NotYet(msn)
            await asyncio.sleep(POLL_SECONDS)
            text = await self.playlist(room_id) or text
        return text

    async def media(self, room_id: str, name: str, hold: float = HOLD_SECONDS) -> bytes | None:
        """A media object; one the playlist is about to list (a preload hint) is waited for."""
        data = await self.objects.get(key(room_id, name))
        if data is not None or name == INIT:
            return data
        match = MEDIA_NAME.match(name)
        text = await self.playlist(room_id)
        if match is None or text is None:
            return None
        msn = int(match["msn"])
        part = int(match["part"]) if match["part"] is not None else None
        now: Position = position(text)
        if now.ended or now.has(msn, part) or msn > now.last_msn + ADVANCE_SEGMENTS:
            return None  # gone from the window, never made, or too far ahead to wait for
        try:
            await self._until(room_id, text, msn, part, hold)
        except NotYet:
            return None
        return await self.objects.get(key(room_id, name))
