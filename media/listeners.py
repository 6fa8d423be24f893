"""Whoever hears a room, behind one face: ``Listener``.

A room's hub (``media.room``) hands every listener the same encoded frame
each 20 ms tick and every text message (the room's state), and closes them
when the room ends or a user is removed. A WebSocket, a WebRTC (WHEP) peer
and a client-mixing WebRTC peer are three implementations here; whatever
else comes to listen (a relay's uplink, an HLS segmenter, a recorder, a
speech-to-text tap) is meant to be one more, not another branch in the hub.

A frame is rendered lazily, once per form (a WebSocket record, an
``av.Packet``) and per mix-minus stream, and shared by every listener that
wants that form, so fan-out never encodes or frames per listener.
"""

import asyncio
from collections.abc import Callable
from typing import Literal, Protocol

import av

from media.listen import encode_record
from media.mixer import MixedFrame
from media.opus import FRAME_SAMPLES
from media.tracks import PacketTrack, opus_packet

MixingMode = Literal["server", "client"]

WS_QUEUE_DEPTH = 50
"""Messages (1 s of audio) a slow WebSocket listener may fall behind before losing frames."""
BACKFILL_PER_MESSAGE = 10
"""Backfilled frames per message: a whole ring fits the outbox without pushing live frames out."""


class Outgoing:
    """One tick's frame of the room's mix, rendered on demand and shared across listeners."""

    __slots__ = ("_packets", "_records", "frame")

    def __init__(self, frame: MixedFrame) -> None:
        self.frame = frame
        self._records: dict[str, bytes] = {}
        self._packets: dict[str, av.Packet] = {}

    def _stream(self, user_id: str) -> str:
        """Which stream this user hears: their mix-minus while they talk, else the room's ("")."""
        return user_id if user_id in self.frame.minus else ""

    def payload(self, user_id: str) -> bytes:
        return self.frame.minus.get(user_id, self.frame.packet)

    def record(self, user_id: str) -> bytes:
        """The frame as a WebSocket listen-protocol record (CONTRACT.md framing)."""
        stream = self._stream(user_id)
        record = self._records.get(stream)
        if record is None:
            frame = self.frame
            record = encode_record(frame.seq, frame.capture_us, self.payload(user_id))
            self._records[stream] = record
        return record

    def packet(self, user_id: str) -> av.Packet:
        """The frame as an ``av.Packet`` that aiortc's sender only packetizes."""
        stream = self._stream(user_id)
        packet = self._packets.get(stream)
        if packet is None:
            packet = opus_packet(self.payload(user_id), self.frame.seq * FRAME_SAMPLES)
            self._packets[stream] = packet
        return packet


class Listener(Protocol):
    """Something that hears one room."""

    @property
    def user_id(self) -> str:
        """Whose ears these are: a speaker who listens gets the mix without their own voice.

        Empty for a listener that is not a person (a machine that takes the mix).
        """

    @property
    def hears_mix(self) -> bool:
        """Whether the room's mix reaches this listener now (not per-speaker tracks)."""

    @property
    def lag(self) -> int:
        """Frames (or messages) handed over but not yet sent on: how far behind it is."""

    def offer(self, frame: Outgoing) -> None:
        """The next 20 ms of the room. Must not block: the room's clock is waiting."""

    def tell(self, message: str) -> None:
        """A JSON text message for the listener's client; dropped where there is no channel."""

    def move(self, path: str, message: Callable[[], str | None]) -> None:
        """Ask the client to listen on ``path``, once per path; ``message`` makes the
        ``moved`` text (with a fresh token) only if it is needed, and may find nowhere to go.

        Listeners that cannot follow (WebRTC, a relay) ignore it.
        """

    def close(self) -> None:
        """The room is over for this listener (room ended, user removed, hub stopped)."""


class WsListener:
    """A WebSocket listener's outbox: binary records and JSON texts, bounded.

    A listener that falls ``WS_QUEUE_DEPTH`` messages behind loses the oldest
    ones (counted in ``dropped``) instead of slowing the room or hearing it
    later and later.
    """

    def __init__(
        self, user_id: str, depth: int = WS_QUEUE_DEPTH, relay: bool = False, audio: bool = True
    ) -> None:
        self.user_id = user_id
        self.relay = relay
        self.audio = audio
        """False: only the room's text messages (someone on stage who hears it over WHEP)."""
        """A relay subscribing for its own listeners: it is never moved."""
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(maxsize=depth)
        self.dropped = 0
        self.moved_to: str | None = None

    @property
    def hears_mix(self) -> bool:
        return self.audio

    @property
    def lag(self) -> int:
        return self.queue.qsize()

    def _put(self, message: bytes | str | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    def offer(self, frame: Outgoing) -> None:
        if self.audio:
            self._put(frame.record(self.user_id))

    def tell(self, message: str) -> None:
        self._put(message)

    def backfill(self, records: list[bytes]) -> None:
        """Frames a resuming subscriber missed, a few per message, before the live ones."""
        for start in range(0, len(records), BACKFILL_PER_MESSAGE):
            self._put(b"".join(records[start : start + BACKFILL_PER_MESSAGE]))

    def move(self, path: str, message: Callable[[], str | None]) -> None:
        if self.relay or self.moved_to == path:
            return
        text = message()
        if text is not None:
            self.moved_to = path
            self._put(text)

    def close(self) -> None:
        self._put(None)


class WhepListener:
    """A WebRTC listener with one track: the room's mix, already encoded."""

    hears_mix = True

    def __init__(self, track: PacketTrack, user_id: str, hang_up: Callable[[], None]) -> None:
        self.track = track
        self.user_id = user_id
        self._hang_up = hang_up

    @property
    def lag(self) -> int:
        return self.track.queued

    def offer(self, frame: Outgoing) -> None:
        self.track.push(frame.packet(self.user_id))

    def tell(self, message: str) -> None:
        """No data channel: WebRTC listeners read the room's state over HTTP."""

    def move(self, path: str, message: Callable[[], str | None]) -> None:
        """No data channel: a WebRTC listener stays on the mixing node."""

    def close(self) -> None:
        self.track.stop()
        self._hang_up()


class ClientMixListener:
    """A WebRTC listener with one track per speaker slot (client-side mixing).

    In ``client`` mode the hub forwards each speaker's packets to their slot
    as they arrive (``forward``); in ``server`` mode (too many speakers) the
    room's mix goes to the first track. ``slots`` are the speakers at
    negotiation time: a slot is not relabelled when its speaker changes.
    """

    def __init__(
        self,
        tracks: list[PacketTrack],
        user_id: str,
        slots: list[str | None],
        hang_up: Callable[[], None],
    ) -> None:
        self.tracks = tracks
        self.user_id = user_id
        self.slots = slots
        self.mode: MixingMode = "server"
        self._hang_up = hang_up

    @property
    def hears_mix(self) -> bool:
        return self.mode == "server"

    @property
    def lag(self) -> int:
        return max(track.queued for track in self.tracks)

    def forward(self, slot: int, packet: av.Packet) -> None:
        if slot < len(self.tracks):
            self.tracks[slot].push(packet)

    def offer(self, frame: Outgoing) -> None:
        if self.mode == "server":
            self.tracks[0].push(frame.packet(self.user_id))

    def tell(self, message: str) -> None:
        """No data channel: WebRTC listeners read the room's state over HTTP."""

    def move(self, path: str, message: Callable[[], str | None]) -> None:
        """No data channel: a WebRTC listener stays on the mixing node."""

    def close(self) -> None:
        for track in self.tracks:
            track.stop()
        self._hang_up()
