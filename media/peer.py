"""Peer connections as the SFU needs them: no STUN, Opus only, loopback when alone.

* aiortc's default configuration asks Google's STUN server for a reflexive
  candidate; the SFU has a routable address of its own (or sits behind a load
  balancer), and a STUN round trip on every WHIP/WHEP request would add
  latency or, offline, a timeout. So ``ice_servers=[]``.
* aioice never offers 127.0.0.1; ``media.aioice_compat`` makes it do so on a
  host whose only interface is loopback.
* WHIP and WHEP negotiate the same way (``negotiate``): the transceivers are
  added before the offer is applied, so aiortc answers with our codec
  preference (Opus only) and whatever taps the tracks is in place from the
  first packet.
"""

import asyncio
import contextlib

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

from media.aioice_compat import offer_loopback_when_alone


def new_peer_connection() -> RTCPeerConnection:
    offer_loopback_when_alone()
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def negotiate(pc: RTCPeerConnection, offer_sdp: str) -> str:
    """Apply a client's offer to ``pc`` (its transceivers already added) and return the answer."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # aiortc raises whatever its SDP handling hits
        raise OfferError(f"the offer could not be negotiated ({exc})") from exc
    return str(pc.localDescription.sdp)


def opus_capability() -> RTCRtpCodecCapability:
    capabilities = RTCRtpReceiver.getCapabilities("audio")
    assert capabilities is not None
    return next(c for c in capabilities.codecs if c.mimeType.lower() == "audio/opus")


def prefer_opus(transceiver: RTCRtpTransceiver) -> None:
    """Negotiate Opus and nothing else: the mixer and the listeners only speak Opus."""
    transceiver.setCodecPreferences([opus_capability()])


def ask_for_dtx(answer_sdp: str) -> str:
    """Add ``usedtx=1`` to the answer's Opus format parameters (RFC 7587).

    Said by a receiver, it asks the sender to stop sending during silence
    (a comfort-noise packet every 400 ms instead of 50 packets per second);
    senders that honour it send nothing to decrypt or decode while silent.
    (Chromium 156 kept sending 50 packets/s from a silent fake microphone even
    so; its audio-level header extension is what lets ``OpusTap`` drop them.)
    """
    lines = answer_sdp.split("\r\n")
    opus = {
        line.split()[0].removeprefix("a=rtpmap:")
        for line in lines
        if line.startswith("a=rtpmap:") and " opus/" in line.lower()
    }
    out: list[str] = []
    for line in lines:
        payload_type = line.removeprefix("a=fmtp:").split(" ")[0]
        if line.startswith("a=fmtp:") and payload_type in opus:
            if "usedtx" not in line:
                line += ";usedtx=1"
            opus.discard(payload_type)
        out.append(line)
    for payload_type in opus:  # no fmtp line yet: add one after the rtpmap
        at = next(i for i, line in enumerate(out) if line.startswith(f"a=rtpmap:{payload_type} "))
        out.insert(at + 1, f"a=fmtp:{payload_type} usedtx=1")
    return "\r\n".join(out)


class OfferError(ValueError):
    """An SDP offer the SFU cannot serve; the message says why, for a 4xx."""


def audio_sections(offer_sdp: str) -> int:
    """How many audio m-lines an offer has, after checking it is SDP that offers Opus."""
    try:
        description = SessionDescription.parse(offer_sdp)
    except (ValueError, IndexError, KeyError) as exc:
        raise OfferError(f"the body is not a valid SDP offer ({exc})") from exc
    audio = [m for m in description.media if m.kind == "audio"]
    if not audio:
        raise OfferError("the offer has no audio section")
    if any(m.kind != "audio" for m in description.media):
        raise OfferError("only audio is supported; remove the other media sections")
    for media in audio:
        if not any(c.mimeType.lower() == "audio/opus" for c in media.rtp.codecs):
            raise OfferError("every audio section must offer Opus")
    return len(audio)


async def close_quietly(pc: RTCPeerConnection, timeout: float = 5.0) -> None:
    """Close a peer connection; a peer that vanished must not hang the caller."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pc.close(), timeout)
