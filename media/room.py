"""One room's media hub: the 20 ms mixing clock and the fan-out to every listener.

Speakers' Opus packets come in (``push``) as they arrive; every 20 ms the clock
asks the room's ``RoomMixer`` (which owns the speakers and their mutes) for
one mixed packet (decode each talking speaker once, sum, encode once) and
offers that same packet to every listener (``media.listeners.Listener``:
WebSocket, WHEP, client-mixing WHEP). Nothing here encodes per listener.

The room's state reaches listeners when the gateway's read model changes
(``room_changed``): role changes at once, listener counts at most once per
``COUNTS_EVERY_SECONDS``.

Client-side mixing: a WHEP listener may ask for one track per speaker (for
per-speaker volume). While the room has at most ``CLIENT_MIX_MAX_SPEAKERS``
speakers and such a listener is connected, the room is in ``client`` mode and
each speaker's packets are forwarded to those listeners as received (no
decode, no encode), in speaker slots; with more speakers the room returns to
``server`` mode and those listeners hear the mix on their first track. Each
change of mode is a ``MixingModeChanged`` event. The mix keeps running in both
modes: WebSocket listeners and voice activity need it.

Mix-minus: a speaker who is also listening (WebSocket or WHEP, any session of
their user id) gets the mix without their own voice, encoded on their own
stream by the mixer (``MixedFrame.minus``); in client mode they are simply not
sent their own track.
"""

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from media.activity import ActivityTracker
from media.audio_out import RoomAudioLog
from media.journal import MediaEventLog, mixing_mode_changed, speaker_activity
from media.listen import (
    activity_message,
    gap_message,
    moved_message,
    room_message,
    tier_message,
)
from media.listeners import ClientMixListener, Listener, MixingMode, Outgoing, WsListener
from media.mixer import MixedFrame, RoomMixer
from media.ring import BACKFILL_FRAMES, FrameRing
from media.routing import Routes
from media.tracks import opus_packet
from media.wrap import MOD32
from projections.tiers import Path, Tier, path_for
from schemas.room import MemberRole, RoomState

log = logging.getLogger("stoa.media")

TICK_SECONDS = 0.020
MIX_BITRATE = 64_000
JITTER_FRAMES = 2
"""Frames of jitter buffer per speaker in the mixer: 40 ms, the latency budget's main cost."""
CLIENT_MIX_MAX_SPEAKERS = 5
COUNTS_EVERY_SECONDS = 1.0
"""Listener-count changes reach a room's listeners at most this often (a popular room's
audience changes many times a second); role and status changes go out at once."""
HANG_FLUSH_SECONDS = 60.0


def mixing_mode(speakers: int, client_listeners: int) -> tuple[MixingMode, str]:
    """The room's mixing decision, and the reason recorded with it."""
    if client_listeners == 0:
        return "server", "no listener asked for per-speaker tracks"
    if speakers > CLIENT_MIX_MAX_SPEAKERS:
        return "server", f"{speakers} speakers exceed {CLIENT_MIX_MAX_SPEAKERS} for client mixing"
    return "client", f"{client_listeners} listener(s) asked for per-speaker tracks"


@dataclass
class RoomServices:
    """What a hub needs from outside the media plane, as plain callables."""

    state: Callable[[str], RoomState | None]
    view: Callable[[str], dict[str, Any] | None]
    journal: MediaEventLog
    observe_tick: Callable[[float], None] = lambda seconds: None
    tier: Callable[[str], Tier] = lambda room_id: "direct"
    """The room's delivery tier, as the presence projection decided it."""
    routes: Routes | None = None
    """Where to send listeners whose path is no longer the mixing node (None: nowhere)."""
    audio: RoomAudioLog | None = None
    """Where the room's mix goes for speech-to-text (None: nowhere)."""


class RoomHub:
    """The room's mixer, its clock task and its listeners; one per live room in this process."""

    def __init__(
        self, room_id: str, services: RoomServices, mode: MixingMode | None = None
    ) -> None:
        self.room_id = room_id
        self.services = services
        self.mixer = RoomMixer(
            bitrate=MIX_BITRATE, jitter_frames=JITTER_FRAMES, first_seq=self._first_seq(services)
        )
        self.tracker = ActivityTracker()
        self.listeners: set[Listener] = set()
        self._forwarders: tuple[ClientMixListener, ...] = ()
        """The listeners that want speakers' own packets (client-side mixing)."""
        self.slots: list[str | None] = []
        """Speakers by client-mixing track slot; a freed slot is reused."""
        self.mode = mode
        """The last recorded decision (kept by ``RoomHubs`` across hub restarts)."""
        self.frames = 0
        self.ring = FrameRing(BACKFILL_FRAMES)
        """The room's shared stream, for relays and listeners resuming after a drop."""
        self.tier: Tier = services.tier(room_id)
        self.captions: str | None = None
        """The captions status message listeners were last told (``media.captions``)."""
        self.audible_since: float | None = None
        """Since when (monotonic) the mix has been making frames without a break."""
        self._epoch = time.time()
        self._told_version = -1
        self._counts_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def _first_seq(self, services: RoomServices) -> int:
        """Frames since the room started: a hub opened again (the gateway restarted, or the
        room went idle) continues the room's seq instead of starting over at 0, where relays
        and segmenters following the room would take every frame for one they already had."""
        state = services.state(self.room_id)
        if state is None or state.started_at is None:
            return 0
        return max(0, int((time.time() - state.started_at.timestamp()) / TICK_SECONDS))

    # --- speakers ---------------------------------------------------------

    def add_speaker(self, user_id: str, muted: bool) -> None:
        if not self.mixer.has_speaker(user_id):
            self.mixer.add_speaker(user_id, muted=muted)
            free = next((i for i, s in enumerate(self.slots) if s is None), None)
            if free is None:
                self.slots.append(user_id)
            else:
                self.slots[free] = user_id
        self.mixer.set_muted(user_id, muted)
        self._sync_listening(user_id)
        self._decide_mode()

    def remove_speaker(self, user_id: str) -> None:
        """Out of the mix now; their stop of activity follows after the tracker's hang time."""
        if not self.mixer.has_speaker(user_id):
            return
        self.mixer.remove_speaker(user_id)
        self.slots = [None if s == user_id else s for s in self.slots]
        while self.slots and self.slots[-1] is None:
            self.slots.pop()
        self._decide_mode()

    def set_muted(self, user_id: str, muted: bool) -> bool:
        """Stop (or resume) mixing and forwarding this speaker from the next packet on.

        Returns whether they are a speaker here (and so whether it took effect).
        """
        if not self.mixer.has_speaker(user_id):
            return False
        self.mixer.set_muted(user_id, muted)
        return True

    def push(self, user_id: str, seq: int, timestamp: int, payload: bytes, arrival_us: int) -> None:
        """A speaker's RTP Opus packet, as it arrives (called by the speaker's ``OpusTap``)."""
        position = self.mixer.push(user_id, seq, timestamp, payload, arrival_us)
        if position is None or self.mode != "client" or not self._forwarders:
            return
        packet = opus_packet(payload, position)
        slot = self.slots.index(user_id)
        for listener in self._forwarders:
            if listener.user_id != user_id:  # a speaker is not sent their own voice
                listener.forward(slot, packet)

    # --- listeners --------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)
        if isinstance(listener, ClientMixListener):
            listener.mode = self.mode or "server"
            self._forwarders = (*self._forwarders, listener)
            self._decide_mode()
        view = self.services.view(self.room_id)
        if view is not None:
            listener.tell(room_message(view))
        listener.tell(self._tier_text())
        if self.captions is not None:
            listener.tell(self.captions)
        for speaker_id in sorted(self.tracker.talking()):
            listener.tell(activity_message(speaker_id, True))
        self._sync_listening(listener.user_id)
        self._route([listener])

    def remove_listener(self, listener: Listener) -> None:
        if listener not in self.listeners:
            return
        self.listeners.discard(listener)
        if listener in self._forwarders:
            self._forwarders = tuple(f for f in self._forwarders if f is not listener)
            self._decide_mode()
        self._sync_listening(listener.user_id)

    def _sync_listening(self, user_id: str) -> None:
        """A speaker who listens gets a mix-minus stream; one who stops, stops costing it."""
        if self.mixer.has_speaker(user_id):
            listens = any(
                listener.user_id == user_id and listener.hears_mix for listener in self.listeners
            )
            self.mixer.set_listening(user_id, listens)

    @property
    def idle(self) -> bool:
        return not (self.mixer.speaker_ids() or self.listeners)

    def tell(self, message: str) -> None:
        for listener in self.listeners:
            listener.tell(message)

    def room_changed(self) -> None:
        """The read model has news of this room: tell the listeners (see the module docstring)."""
        tier = self.services.tier(self.room_id)
        if tier != self.tier:  # kept current even with nobody listening: a relay may come
            self.tier = tier
            self.tell(self._tier_text())
        state = self.services.state(self.room_id)
        if state is None or not self.listeners:
            return
        self._route()
        if state.version != self._told_version:
            self._tell_state()
        elif self._counts_timer is None:
            loop = asyncio.get_running_loop()
            self._counts_timer = loop.call_later(COUNTS_EVERY_SECONDS, self._tell_state)

    def _tell_state(self) -> None:
        if self._counts_timer is not None:
            self._counts_timer.cancel()
            self._counts_timer = None
        state = self.services.state(self.room_id)
        view = self.services.view(self.room_id)
        if state is None or view is None:
            return
        self._told_version = state.version
        self.tell(room_message(view))

    def _tier_text(self) -> str:
        origin = self.services.routes.origin if self.services.routes else ""
        return tier_message(self.tier, origin)

    def _route(self, listeners: list[Listener] | None = None) -> None:
        """Move each listener whose path (``projections.tiers.path_for``) is no longer here."""
        routes, state = self.services.routes, self.services.state(self.room_id)
        if routes is None or state is None or self.tier == "direct":
            return
        for listener in listeners if listeners is not None else list(self.listeners):
            role = state.role_of(listener.user_id) if listener.user_id else "removed"
            if role == "removed":
                continue  # a relay, or someone enforcement is about to close
            path = path_for(self.tier, role, state.hand_raised(listener.user_id))
            if path != "origin":
                listener.move(
                    path, functools.partial(self._moved, routes, listener.user_id, role, path)
                )

    def _moved(self, routes: Routes, user_id: str, role: MemberRole, path: Path) -> str | None:
        target = routes.move(self.room_id, user_id, role, path)
        return moved_message(target[1], target[0], self.tier) if target is not None else None

    def close_listeners(
        self, user_id: str | None = None, final: dict[str, Any] | None = None
    ) -> int:
        """Close every listener (the room ended) or one removed user's; returns how many.

        A closed listener is told the room's state first, so a page can say
        why; ``final`` overrides fields the read model may not have caught up with.
        """
        view = self.services.view(self.room_id)
        if view is not None and final:
            view = {**view, **final}
        text = room_message(view) if view is not None else None
        closing = [x for x in self.listeners if user_id is None or x.user_id == user_id]
        for listener in closing:
            if text is not None:
                listener.tell(text)
            self.remove_listener(listener)
            listener.close()
        return len(closing)

    # --- the clock --------------------------------------------------------

    def start(self) -> None:
        self._decide_mode()
        self._task = asyncio.create_task(self._run(), name=f"stoa.media.room.{self.room_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._counts_timer is not None:
            self._counts_timer.cancel()
        self.close_listeners()
        self._follow_activity({}, later=HANG_FLUSH_SECONDS)
        if self.services.audio is not None:
            self.services.audio.end(self.room_id)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += TICK_SECONDS
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -10 * TICK_SECONDS:  # the process stalled: resync, do not burst
                next_at = loop.time()
            try:
                self.tick()
            except Exception:  # one bad tick must not silence the room for good
                log.exception("room %s: mixing tick failed", self.room_id)

    def tick(self) -> MixedFrame | None:
        """One 20 ms step: mix, offer the frame to every listener, follow voice activity."""
        started = time.perf_counter()
        frame = None
        if self.mixer.speaker_ids():
            frame = self.mixer.tick()
        else:
            self.mixer.skip()
        record = b""
        if frame is None:
            self.audible_since = None
        elif self.audible_since is None:
            self.audible_since = time.monotonic()
        if frame is not None:
            outgoing = Outgoing(frame)
            record = outgoing.record("")
            self.ring.append(frame.seq % MOD32, record)
            for listener in self.listeners:
                listener.offer(outgoing)
        self._follow_activity(frame.levels if frame is not None else {})
        if frame is not None and self.services.audio is not None:
            self.services.audio.offer(self.room_id, frame.seq, record, self.tracker.talking())
        self.frames += 1
        self.services.observe_tick(time.perf_counter() - started)
        return frame

    # --- journal ----------------------------------------------------------

    def offset_seconds(self) -> float:
        """Seconds into the room (from its start, like chapters), for the recording timeline."""
        state = self.services.state(self.room_id)
        epoch = state.started_at.timestamp() if state and state.started_at else self._epoch
        return max(0.0, time.time() - epoch)

    def _follow_activity(self, levels: dict[str, float], later: float = 0.0) -> None:
        """Journal who started or stopped talking (absent from ``levels`` means silent).

        ``later`` moves the clock forward: on stop, past every hang time, so
        whoever was talking gets their stop event (dated at their last sound).
        """
        for change in self.tracker.update(levels, self.offset_seconds() + later):
            self.tell(activity_message(change.speaker_id, change.talking))
            self.services.journal.emit(
                speaker_activity(
                    self.room_id,
                    change.speaker_id,
                    change.talking,
                    change.offset_seconds,
                    change.level_dbfs,
                )
            )

    def _decide_mode(self) -> None:
        mode, reason = mixing_mode(len(self.mixer.speaker_ids()), len(self._forwarders))
        if mode != self.mode:
            self.mode = mode
            self.services.journal.emit(mixing_mode_changed(self.room_id, mode, reason))
            for forwarder in self._forwarders:
                forwarder.mode = mode
            for user_id in self.mixer.speaker_ids():
                self._sync_listening(user_id)


class RoomHubs:
    """The hubs of this process, and the one place where rooms gain and lose their members.

    A hub opens with its first speaker or listener and stops when the last
    one leaves or the room ends; WHIP, WHEP and the WebSocket route all go
    through ``attach``/``detach`` (and the speaker pair), never the hub directly.
    """

    def __init__(self, services: RoomServices) -> None:
        self.services = services
        self.rooms: dict[str, RoomHub] = {}
        self._modes: dict[str, MixingMode] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def open(self, room_id: str) -> RoomHub:
        hub = self.rooms.get(room_id)
        if hub is None:
            hub = RoomHub(room_id, self.services, self._modes.get(room_id))
            self.rooms[room_id] = hub
            hub.start()
        return hub

    def get(self, room_id: str) -> RoomHub | None:
        return self.rooms.get(room_id)

    def attach(self, room_id: str, listener: Listener) -> RoomHub:
        hub = self.open(room_id)
        hub.add_listener(listener)
        return hub

    def detach(self, room_id: str, listener: Listener) -> None:
        hub = self.rooms.get(room_id)
        if hub is not None:
            hub.remove_listener(listener)
            self.release(room_id)

    @contextlib.contextmanager
    def listening(
        self, room_id: str, listener: WsListener, resume_from: int | None = None
    ) -> Iterator[RoomHub]:
        """``listener`` hears the room for the duration of the block.

        With ``resume_from`` (a wire seq) it first gets what the room's ring
        still holds from there, and is told of any older range it cannot.
        """
        hub = self.open(room_id)
        if resume_from is not None:
            records, gap = hub.ring.since(resume_from)
            if gap is not None:
                listener.tell(gap_message(gap.first, gap.last))
            listener.backfill(records)
        hub = self.attach(room_id, listener)
        try:
            yield hub
        finally:
            self.detach(room_id, listener)

    def attach_speaker(self, room_id: str, user_id: str, muted: bool) -> RoomHub:
        hub = self.open(room_id)
        hub.add_speaker(user_id, muted)
        return hub

    def detach_speaker(self, room_id: str, user_id: str) -> None:
        hub = self.rooms.get(room_id)
        if hub is not None:
            hub.remove_speaker(user_id)
            self.release(room_id)

    def room_changed(self, room_id: str) -> None:
        hub = self.rooms.get(room_id)
        if hub is not None:
            hub.room_changed()

    def release(self, room_id: str, ended: bool = False) -> None:
        """Stop the room's hub if nobody speaks or listens any more, or because the room ended."""
        hub = self.rooms.get(room_id)
        if ended:
            self._modes.pop(room_id, None)
        if hub is None or not (ended or hub.idle):
            return
        del self.rooms[room_id]
        if hub.mode is not None and not ended:
            self._modes[room_id] = hub.mode
        task = asyncio.ensure_future(hub.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        for room_id in list(self.rooms):
            self.release(room_id, ended=True)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
