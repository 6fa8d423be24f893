"""One room's media hub: the 20 ms mixing clock and the fan-out to every listener.

Speakers' Opus packets come in (``push``) as they arrive; every 20 ms the clock
asks the room's ``RoomMixer`` for one mixed packet (decode each talking
speaker once, sum, encode once) and hands that same packet to every listener:
WebSocket listeners get it framed (``media.listen``), WHEP listeners as an
``av.Packet`` their sender only packetizes. Nothing here encodes per listener.

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
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from media.activity import ActivityTracker
from media.journal import MediaEventLog, mixing_mode_changed, speaker_activity
from media.listen import encode_record, room_message
from media.mixer import MixedFrame, RoomMixer
from media.opus import FRAME_SAMPLES
from media.tracks import PacketTrack, opus_packet
from projections.room import RoomState

log = logging.getLogger("stoa.media")

TICK_SECONDS = 0.020
MIX_BITRATE = 64_000
JITTER_FRAMES = 2
"""Frames of jitter buffer per speaker in the mixer: 40 ms, the latency budget's main cost."""
CLIENT_MIX_MAX_SPEAKERS = 5
STATE_EVERY_TICKS = 25
"""How often (in ticks, so 0.5 s) the room's state is checked and pushed to WebSocket listeners."""
HANG_FLUSH_SECONDS = 60.0
WS_QUEUE_DEPTH = 50
"""Messages (1 s of audio) a slow WebSocket listener may fall behind before losing frames."""

MixingMode = Literal["server", "client"]


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


class WsListener:
    """One WebSocket listener's outbox: binary frames and JSON texts, bounded."""

    def __init__(self, user_id: str, depth: int = WS_QUEUE_DEPTH) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(maxsize=depth)
        self.dropped = 0

    def offer(self, message: bytes | str | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    def close(self) -> None:
        self.offer(None)


@dataclass
class _Speaker:
    user_id: str
    muted: bool = False
    first_ts: int | None = None
    last_ts: int = 0
    packets: int = 0

    def pts(self, rtp_timestamp: int) -> int:
        """The packet's time in 48 kHz samples from this speaker's first packet (unwrapped)."""
        if self.first_ts is None:
            self.first_ts = self.last_ts = rtp_timestamp
        delta = (rtp_timestamp - self.last_ts + (1 << 31)) % (1 << 32) - (1 << 31)
        self.last_ts += delta
        return self.last_ts - self.first_ts


@dataclass
class ClientMixListener:
    """A WHEP listener with one track per speaker slot (client-side mixing)."""

    tracks: list[PacketTrack]
    slots: list[str | None] = field(default_factory=list)
    user_id: str = ""


class RoomHub:
    """The room's mixer, its clock task and its listeners; one per live room in this process."""

    def __init__(
        self, room_id: str, services: RoomServices, mode: MixingMode | None = None
    ) -> None:
        self.room_id = room_id
        self.services = services
        self.mixer = RoomMixer(bitrate=MIX_BITRATE, jitter_frames=JITTER_FRAMES)
        self.tracker = ActivityTracker()
        self.speakers: dict[str, _Speaker] = {}
        self.ws_listeners: set[WsListener] = set()
        self.whep_tracks: dict[PacketTrack, str] = {}
        """Each WHEP listener's track, and whose it is (for mix-minus)."""
        self.client_listeners: list[ClientMixListener] = []
        self.slots: list[str | None] = []
        self.mode = mode
        """The last recorded decision (kept by the plane across hub restarts)."""
        self.frames = 0
        self._epoch = time.time()
        self._state_version = -1
        self._task: asyncio.Task[None] | None = None

    # --- speakers ---------------------------------------------------------

    def add_speaker(self, user_id: str, muted: bool) -> None:
        if user_id not in self.speakers:
            self.mixer.add_speaker(user_id)
            self.speakers[user_id] = _Speaker(user_id)
            free = next((i for i, s in enumerate(self.slots) if s is None), None)
            if free is None:
                self.slots.append(user_id)
            else:
                self.slots[free] = user_id
        self.set_muted(user_id, muted)
        self._sync_listening(user_id)
        self._decide_mode()

    def remove_speaker(self, user_id: str) -> None:
        """Out of the mix now; their stop of activity follows after the tracker's hang time."""
        if self.speakers.pop(user_id, None) is None:
            return
        self.mixer.remove_speaker(user_id)
        self.slots = [None if s == user_id else s for s in self.slots]
        while self.slots and self.slots[-1] is None:
            self.slots.pop()
        self._decide_mode()

    def set_muted(self, user_id: str, muted: bool) -> None:
        """Stop (or resume) mixing and forwarding this speaker from the next packet on."""
        speaker = self.speakers.get(user_id)
        if speaker is not None:
            speaker.muted = muted
            self.mixer.set_muted(user_id, muted)

    def push(self, user_id: str, seq: int, timestamp: int, payload: bytes, arrival_us: int) -> None:
        """A speaker's RTP Opus packet, as it arrives (called by the speaker's ``OpusTap``)."""
        speaker = self.speakers.get(user_id)
        if speaker is None:
            return
        speaker.packets += 1
        self.mixer.push(user_id, seq, timestamp, payload, arrival_us)
        if self.mode == "client" and not speaker.muted:
            packet = opus_packet(payload, speaker.pts(timestamp))
            slot = self.slots.index(user_id)
            for listener in self.client_listeners:
                if slot < len(listener.tracks) and listener.user_id != user_id:
                    listener.tracks[slot].push(packet)

    # --- listeners --------------------------------------------------------

    def add_ws_listener(self, user_id: str) -> WsListener:
        listener = WsListener(user_id)
        view = self.services.view(self.room_id)
        if view is not None:
            listener.offer(room_message(view))
        self.ws_listeners.add(listener)
        self._sync_listening(user_id)
        return listener

    def remove_ws_listener(self, listener: WsListener) -> None:
        self.ws_listeners.discard(listener)
        self._sync_listening(listener.user_id)

    def add_whep_track(self, track: PacketTrack, user_id: str) -> None:
        self.whep_tracks[track] = user_id
        self._sync_listening(user_id)

    def remove_whep_track(self, track: PacketTrack) -> None:
        user_id = self.whep_tracks.pop(track, None)
        if user_id is not None:
            self._sync_listening(user_id)

    def add_client_listener(self, tracks: list[PacketTrack], user_id: str) -> ClientMixListener:
        listener = ClientMixListener(tracks, slots=list(self.slots), user_id=user_id)
        self.client_listeners.append(listener)
        self._sync_listening(user_id)
        self._decide_mode()
        return listener

    def remove_client_listener(self, listener: ClientMixListener) -> None:
        with contextlib.suppress(ValueError):
            self.client_listeners.remove(listener)
        self._sync_listening(listener.user_id)
        self._decide_mode()

    def _listens(self, user_id: str) -> bool:
        return (
            any(listener.user_id == user_id for listener in self.ws_listeners)
            or user_id in self.whep_tracks.values()
            or (
                self.mode == "server"  # in client mode they get tracks, not the mix
                and any(client.user_id == user_id for client in self.client_listeners)
            )
        )

    def _sync_listening(self, user_id: str) -> None:
        """A speaker who listens gets a mix-minus stream; one who stops, stops costing it."""
        if user_id in self.speakers:
            self.mixer.set_listening(user_id, self._listens(user_id))

    @property
    def idle(self) -> bool:
        return not (self.speakers or self.ws_listeners or self.whep_tracks or self.client_listeners)

    def close_listeners(
        self, user_id: str | None = None, final: dict[str, Any] | None = None
    ) -> None:
        """Close WebSocket listeners (all of them: the room ended; or one removed user's).

        A closed listener gets the room's state first, so a page can say why;
        ``final`` overrides fields the read model may not have caught up with.
        """
        view = self.services.view(self.room_id)
        if view is not None and final:
            view = {**view, **final}
        for listener in list(self.ws_listeners):
            if user_id is None or listener.user_id == user_id:
                if view is not None:
                    listener.offer(room_message(view))
                listener.close()
                self.ws_listeners.discard(listener)

    # --- the clock --------------------------------------------------------

    def start(self) -> None:
        self._decide_mode()
        self._task = asyncio.create_task(self._run(), name=f"stoa.media.room.{self.room_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.close_listeners()
        self._follow_activity({}, later=HANG_FLUSH_SECONDS)

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
        """One 20 ms step: mix, fan out, follow voice activity, refresh the room state."""
        started = time.perf_counter()
        frame = self.mixer.tick() if self.speakers else None
        if frame is not None:
            self._fan_out(frame)
        self._follow_activity(frame.levels if frame is not None else {})
        self.frames += 1
        if self.frames % STATE_EVERY_TICKS == 0:
            self._push_state()
        self.services.observe_tick(time.perf_counter() - started)
        return frame

    def _fan_out(self, frame: MixedFrame) -> None:
        """The same encoded packet to every listener; a listening speaker gets their minus."""
        if self.ws_listeners:
            shared = encode_record(frame.seq, frame.capture_us, frame.packet)
            own = {u: encode_record(frame.seq, frame.capture_us, p) for u, p in frame.minus.items()}
            for listener in self.ws_listeners:
                listener.offer(own.get(listener.user_id, shared) if own else shared)
        if self.whep_tracks or (self.mode == "server" and self.client_listeners):
            pts = frame.seq * FRAME_SAMPLES
            packet = opus_packet(frame.packet, pts)
            mine = {u: opus_packet(p, pts) for u, p in frame.minus.items()}
            for track, user_id in self.whep_tracks.items():
                track.push(mine.get(user_id, packet) if mine else packet)
            if self.mode == "server":
                for client in self.client_listeners:
                    client.tracks[0].push(mine.get(client.user_id, packet) if mine else packet)

    def _push_state(self) -> None:
        state = self.services.state(self.room_id)
        if state is None or state.version == self._state_version or not self.ws_listeners:
            return
        self._state_version = state.version
        view = self.services.view(self.room_id)
        if view is not None:
            text = room_message(view)
            for listener in self.ws_listeners:
                listener.offer(text)

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
        mode, reason = mixing_mode(len(self.speakers), len(self.client_listeners))
        if mode != self.mode:
            self.mode = mode
            self.services.journal.emit(mixing_mode_changed(self.room_id, mode, reason))
            for user_id in self.speakers:
                self._sync_listening(user_id)


class RoomHubs:
    """The hubs of this process: opened by the first speaker or listener, stopped when idle."""

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
