"""Every use of aiortc's private API, in one place (written against aiortc 1.16.0).

aiortc is a complete WebRTC endpoint: it decodes what it receives and encodes
what it sends. An SFU wants neither, and aiortc has no public switch for
that, so these few reaches into its internals make it forward Opus as it is.
An aiortc upgrade breaks here and nowhere else.
"""

from collections.abc import Callable

from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket

OnParameters = Callable[[RTCRtpReceiveParameters], None]
OnPacket = Callable[[RtpPacket], None]


class _RedirectedReceiver(RTCRtpReceiver):
    """A receiver whose RTP packets go to a callback instead of its jitter buffer and decoder.

    aiortc builds receivers itself while applying a remote offer, so an
    existing instance's class is switched to this subclass (it adds
    attributes but no slots, which makes the switch safe). Receiver reports
    (RTCP RR) are not sent: they come from the statistics the bypassed path
    keeps, and browsers keep sending audio without them.
    """

    _stoa_on_parameters: OnParameters
    _stoa_on_packet: OnPacket

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        self._stoa_on_parameters(parameters)
        await super().receive(parameters)
        # super() started a decoder thread that nothing will ever feed: stop it now
        # rather than keep one idle thread per speaker.
        self._handle_disconnect()

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if self._enabled:
            self._stoa_on_packet(packet)


def redirect_rtp(
    receiver: RTCRtpReceiver, on_parameters: OnParameters, on_packet: OnPacket
) -> RTCRtpReceiver:
    """Hand each RTP packet ``receiver`` gets to ``on_packet``, as it arrives.

    Install it before the connection starts (right after adding the
    transceiver); ``on_parameters`` hears the negotiated codecs.
    """
    receiver.__class__ = _RedirectedReceiver
    assert isinstance(receiver, _RedirectedReceiver)
    receiver._stoa_on_parameters = on_parameters
    receiver._stoa_on_packet = on_packet
    return receiver


def stop_receiving(receiver: RTCRtpReceiver) -> None:
    """Drop packets still in flight at once, before the peer connection is closed."""
    receiver._enabled = False


def set_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Name the MediaStream a sender's track belongs to in the SDP (``a=msid``).

    A client-mixing page labels each per-speaker track by it; aiortc takes
    stream ids only from the tracks it creates itself.
    """
    sender._stream_id = stream_id


def set_track_id(track: MediaStreamTrack, track_id: str) -> None:
    """Give a track a readable id instead of aiortc's random UUID."""
    track._id = track_id
