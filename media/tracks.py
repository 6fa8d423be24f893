"""Encoded audio in and out of aiortc, without aiortc's decoder or encoder.

aiortc decodes every received track in a thread per receiver and encodes
every sent frame per sender. The SFU wants neither: the mixer decodes each
speaker exactly once itself, and every listener receives the room's one
encoding. Two small objects change that, and nothing else of aiortc:

* ``OpusTap`` takes over the receiver aiortc created for a speaker's
  transceiver (through ``media.aiortc_compat``) and hands each RTP packet's
  Opus payload to a callback the moment it arrives, skipping aiortc's jitter
  buffer (its 4-packet prefetch would add 80 ms; the mixer has its own) and
  its decoder thread. Packets the sender
  marks as near-silent in the RFC 6464 audio-level header extension (a
  muted microphone sends -127 dBov) are dropped there and then, renumbered
  so that the mixer sees a DTX pause rather than loss: past the mixer's
  first few concealed frames, a silent speaker costs no decode at all.
* ``PacketTrack`` is a track whose ``recv()`` returns ``av.Packet``s: aiortc's
  sender then only packetizes them (``Encoder.pack``), never encodes.
"""

import asyncio
import fractions
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket

from media.aiortc_compat import redirect_rtp, set_track_id, stop_receiving

OPUS_TIME_BASE = fractions.Fraction(1, 48000)

SILENT_DBOV = 80
"""Audio-level (RFC 6464, in -dBov) at or below which a packet is silence: -80 dBov.

Browsers send -127 for a muted track and about -104 for digital silence
(Chromium 156); speech sits far above -70, and quiet-room noise around -60.
"""

PacketSink = Callable[[int, int, bytes, int], None]
"""Receives ``(rtp_seq, rtp_timestamp, opus_payload, arrival_us)`` for each packet."""


class OpusTap:
    """A speaker's receiver, forwarding Opus payloads instead of decoding them.

    ``tap(receiver, sink)`` installs it on the receiver aiortc made while
    applying the remote offer (before the connection starts); from then on
    each RTP packet comes to ``handle``.
    """

    def __init__(self, receiver: RTCRtpReceiver, sink: PacketSink) -> None:
        self.receiver = receiver
        self.sink = sink
        self.opus_types: frozenset[int] = frozenset()
        self.packets = 0
        self.octets = 0
        self.silent = 0
        """Packets dropped as silence; sequence numbers after them are lowered by as many."""

    def negotiated(self, parameters: RTCRtpReceiveParameters) -> None:
        self.opus_types = frozenset(
            c.payloadType
            for c in parameters.codecs
            if c.mimeType.lower() == "audio/opus" and c.payloadType is not None
        )

    def handle(self, packet: RtpPacket) -> None:
        if packet.payload_type not in self.opus_types or not packet.payload:
            return
        self.packets += 1
        self.octets += len(packet.payload)
        level = packet.extensions.audio_level
        if level is not None and level[1] >= SILENT_DBOV:
            self.silent += 1
            return
        # Opus RTP payloads are the Opus packets themselves (RFC 7587): no depayloading.
        seq = (packet.sequence_number - self.silent) & 0xFFFF
        self.sink(seq, packet.timestamp, packet.payload, time.time_ns() // 1000)

    def stop(self) -> None:
        """Packets still in flight are dropped from now on."""
        stop_receiving(self.receiver)


def tap(receiver: RTCRtpReceiver, sink: PacketSink) -> OpusTap:
    opus = OpusTap(receiver, sink)
    redirect_rtp(receiver, opus.negotiated, opus.handle)
    return opus


class PacketTrack(MediaStreamTrack):
    """An audio track fed with already-encoded Opus packets (one per 20 ms).

    The queue is short: a listener whose sender falls behind loses the oldest
    packets rather than hearing the room later and later.
    """

    kind = "audio"

    def __init__(self, depth: int = 25, track_id: str | None = None) -> None:
        super().__init__()
        if track_id is not None:
            set_track_id(self, track_id)
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize=depth)
        self.dropped = 0

    @property
    def queued(self) -> int:
        """Packets waiting for the sender: how far behind this listener is."""
        return self._queue.qsize()

    def push(self, packet: av.Packet) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)


def opus_packet(payload: bytes, pts: int) -> av.Packet:
    """An ``av.Packet`` aiortc's Opus encoder will ``pack``: ``pts`` in 48 kHz samples."""
    packet = av.Packet(payload)
    packet.pts = pts
    packet.time_base = OPUS_TIME_BASE
    return packet
