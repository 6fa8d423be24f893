"""The HLS segmenter: every live room's mix as an HLS rendition in the object store.

Its own process (``python -m media.hls_node --bootstrap B --upstream URL``),
started by ``stoa up`` or alone on any host that reaches the broker, the
upstream and the object store. The upstream is the mixing node or a relay:
the segmenter subscribes to ``/v1/rooms/{id}/listen`` there with a relay token,
like a relay, so it reads the room's one encoded stream and adds no encode.

* **Which rooms.** It follows ``stoa.room-state`` and opens a ``Feed`` for every
  live room; a room that never has audio writes nothing (the first object is
  stored with the first part).
* **End.** The room's end reaches it as the upstream's last ``room`` message
  (or, if the upstream is unreachable then, from the log a few seconds later):
  the playlist is closed with ``EXT-X-ENDLIST``. A stop of the process is not
  an end: the playlist stays open for the next segmenter to continue, at the
  next part boundary, under the same names (they follow the room's seqs).
* **Captions.** The upstream's final ``caption`` messages (CONTRACT.md) go
  to the segmenter, which writes them as the rendition's WebVTT subtitles
  (``media.segmenter``, ``media.webvtt``); partials and the captions' health
  are not for HLS.
* **Writes.** A room's updates are written in order by one task; while a
  write is in flight newer updates merge (all objects, the newest playlists,
  all deletions), so a slow store costs latency, not memory per frame.
  ``RenditionStore.write`` stores the audio; the captions and the
  multivariant playlist, which it does not know, are stored around it here
  (``write_update``) with their own content types.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp

from events.admin import ensure_topics
from events.producer import LogProducer
from events.readmodel import RoomReadModel
from infra.node_args import start_node, store_node_arguments, store_node_identity, until_stopped
from infra.objects import ObjectStoreClient, open_store
from infra.settings import Settings
from media.feed import Feed
from media.listen import HEADER
from media.rendition import (
    ENDED_PLAYLIST_CACHE,
    LIVE_PLAYLIST_CACHE,
    MEDIA_CACHE,
    PLAYLIST_TYPE,
    RenditionStore,
    key,
)
from media.segmenter import CAPTIONS_PLAYLIST, MULTIVARIANT, Segmenter, Update
from media.tokens import MediaTokens
from media.webvtt import MEDIA_TYPE as CAPTIONS_TYPE
from media.webvtt import cue_from_message
from media.wrap import MOD32, unwrap

log = logging.getLogger("stoa.hls")

ENDED_GRACE_SECONDS = 5.0
"""After the log says a room ended, how long its feed may still bring the last frames."""
REFUSED_RETRY_SECONDS = 2.0
"""A live room the upstream did not know yet (it lags the log) is tried again after this."""
WRITE_RETRY_SECONDS = 0.5
STOP_FLUSH_SECONDS = 1.0
"""When the process stops, how long a room's writer may take to store what is due."""
TIERS = frozenset({"direct", "relay", "hls"})


async def write_update(store: RenditionStore, room_id: str, update: Update) -> None:
    """Store an update in order: WebVTT segments and the audio (media, playlist, deletions),
    then the captions playlist that lists those segments, then the multivariant playlist,
    which appears only once both playlists it names are stored, then the captions that
    left the window."""
    objects = store.objects
    await asyncio.gather(
        *(
            objects.put(key(room_id, name), data, CAPTIONS_TYPE, MEDIA_CACHE)
            for name, data in update.captions
        )
    )
    await store.write(room_id, update)
    if update.captions_playlist is not None:
        ended = "#EXT-X-ENDLIST" in update.captions_playlist
        await objects.put(
            key(room_id, CAPTIONS_PLAYLIST),
            update.captions_playlist.encode(),
            PLAYLIST_TYPE,
            ENDED_PLAYLIST_CACHE if ended else LIVE_PLAYLIST_CACHE,
        )
    if update.multivariant is not None:
        await objects.put(
            key(room_id, MULTIVARIANT),
            update.multivariant.encode(),
            PLAYLIST_TYPE,
            ENDED_PLAYLIST_CACHE,  # the same for the room's whole life
        )
    await objects.delete([key(room_id, name) for name in update.captions_deletes])


class HlsRoom:
    """One room being segmented: its feed, its segmenter and its writer (a ``FeedSink``)."""

    def __init__(self, node: "HlsNode", room_id: str) -> None:
        self.node = node
        self.room_id = room_id
        self.segmenter = Segmenter()
        self.feed = Feed(node.http, room_id, lambda: [node.upstream], node.relay_token, self)
        self._last_seq: int | None = None
        self._pending = Update()
        self._wake = asyncio.Event()
        self._feeding = asyncio.create_task(self.feed.run(), name=f"stoa.hls.feed.{room_id}")
        self._ending: asyncio.TimerHandle | None = None
        self._closing = False
        self.task = asyncio.create_task(self._run(), name=f"stoa.hls.{room_id}")

    # --- FeedSink ---------------------------------------------------------

    def records(self, records: list[tuple[int, bytes]]) -> None:
        for wire_seq, framed in records:
            _, _, capture_us, length = HEADER.unpack_from(framed)
            seq = unwrap(wire_seq, self._last_seq, MOD32)
            self._last_seq = seq
            payload = framed[HEADER.size : HEADER.size + length]
            self._queue(self.segmenter.push(seq, capture_us, payload))

    def text(self, message: str, parsed: dict[str, Any]) -> None:
        if parsed["type"] == "tier" and parsed.get("tier") in TIERS:
            self._queue(self.segmenter.tier(str(parsed["tier"]), time.time_ns() // 1000))
        elif parsed["type"] == "caption":
            cue = cue_from_message(parsed)
            if cue is not None:  # a final one
                self.segmenter.caption(cue)

    def gap(self, first: int, last: int) -> None:
        """Nothing to do: the next record's seq shows the hole, and the segmenter fills it."""

    # --- lifecycle --------------------------------------------------------

    def ending(self) -> None:
        """The log says the room ended: stop waiting for the upstream to say so, soon."""
        if self._ending is None:
            loop = asyncio.get_running_loop()
            self._ending = loop.call_later(ENDED_GRACE_SECONDS, self._feeding.cancel)

    async def _run(self) -> None:
        writer = asyncio.create_task(self._write_loop(), name=f"stoa.hls.write.{self.room_id}")
        try:
            await asyncio.wait([self._feeding])
            state = self.node.states.rooms.get(self.room_id)
            ended = self.feed.final_status == 200 or (state is not None and state.status == "ended")
            if ended:
                self._queue(self.segmenter.end())
            self._closing = True
            self._wake.set()
            await asyncio.shield(writer)  # everything, the closed playlist last
            self.node.finished(self, ended)
        finally:
            self._feeding.cancel()
            if self._ending is not None:
                self._ending.cancel()
            if not writer.done():  # stopping the process: a last chance to store what is due
                self._closing = True
                self._wake.set()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(writer, STOP_FLUSH_SECONDS)

    def _queue(self, update: Update) -> None:
        if update:
            self._pending = self._pending.merge(update)
            self._wake.set()

    async def _write_loop(self) -> None:
        """The room's only writer: updates are stored in the order they were made."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self._write():
                await asyncio.sleep(WRITE_RETRY_SECONDS)
                self._wake.set()
            elif self._closing and not self._pending:
                return

    async def _write(self) -> bool:
        update, self._pending = self._pending, Update()
        if not update:
            return True
        try:
            await write_update(self.node.store, self.room_id, update)
        except asyncio.CancelledError:
            self._pending = update.merge(self._pending)
            raise
        except Exception:  # the store is away: keep the update, try again
            log.exception("room %s: storing the rendition failed", self.room_id)
            self._pending = update.merge(self._pending)
            return False
        return True


class HlsNode:
    def __init__(
        self, settings: Settings, bootstrap: str, upstream: str, node_id: str, store: RenditionStore
    ) -> None:
        self.node_id = node_id
        self.upstream = upstream.rstrip("/")
        self.store = store
        self.tokens = MediaTokens(settings.auth_secret, settings.media_token_ttl)
        self.producer = LogProducer(bootstrap, f"stoa-hls-{node_id}")
        self.states = RoomReadModel(bootstrap, self.producer)
        self.rooms: dict[str, HlsRoom] = {}
        self.done: set[str] = set()
        """Rooms whose playlist is closed: never opened again."""
        self.http: aiohttp.ClientSession
        self._token = ""
        self._token_at = 0.0
        self._retries: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        await self.producer.start()
        self.http = aiohttp.ClientSession()
        await self.states.start()
        await self.states.wait_caught_up()  # rooms that lived and ended before now: skipped
        for room_id in list(self.states.rooms):
            self._room_changed(room_id)
        self.states.watch(self._room_changed)

    async def stop(self) -> None:
        for handle in self._retries:
            handle.cancel()
        rooms = list(self.rooms.values())
        for room in rooms:
            room.task.cancel()
        await asyncio.gather(*(room.task for room in rooms), return_exceptions=True)
        await self.http.close()
        await self.states.stop()
        await self.producer.stop()

    def relay_token(self) -> str:
        if time.monotonic() - self._token_at > 600 or not self._token:
            self._token = self.tokens.issue_relay(self.node_id)
            self._token_at = time.monotonic()
        return self._token

    def _room_changed(self, room_id: str) -> None:
        state = self.states.rooms.get(room_id)
        if state is None or room_id in self.done:
            return
        room = self.rooms.get(room_id)
        if state.status == "live" and room is None:
            log.info("room %s is live: segmenting it", room_id)
            self.rooms[room_id] = HlsRoom(self, room_id)
        elif state.status == "ended" and room is not None:
            room.ending()

    def finished(self, room: HlsRoom, ended: bool) -> None:
        """A room's feed stopped: for good if the room ended, else try again in a while."""
        if self.rooms.get(room.room_id) is room:
            del self.rooms[room.room_id]
        if ended:
            self.done.add(room.room_id)
            log.info("room %s ended: playlist closed", room.room_id)
            return
        loop = asyncio.get_running_loop()
        handle = loop.call_later(REFUSED_RETRY_SECONDS, self._room_changed, room.room_id)
        self._retries.add(handle)
        loop.call_later(REFUSED_RETRY_SECONDS + 0.1, self._retries.discard, handle)


async def serve(
    settings: Settings, bootstrap: str, upstream: str, node_id: str, store_url: str
) -> None:
    await ensure_topics(bootstrap, settings.partitions)
    store = RenditionStore(ObjectStoreClient(open_store(store_url)))
    node = HlsNode(settings, bootstrap, upstream, node_id, store)
    await node.start()
    log.info("hls segmenter %s: upstream %s, store %s", node_id, upstream, store_url)
    print(f"hls segmenter {node_id} following {upstream} into {store_url}", flush=True)
    try:
        await until_stopped()
    finally:
        await node.stop()


def main() -> None:
    start = start_node(store_node_arguments("Run the Stoa HLS segmenter", "segmenter"))
    node_id, store_url = store_node_identity(start, "hls")
    asyncio.run(serve(start.settings, start.bootstrap, start.args.upstream, node_id, store_url))


if __name__ == "__main__":
    main()
