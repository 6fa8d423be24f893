"""Peer connections as the SFU needs them: no STUN, Opus only, loopback when alone.

* aiortc's default configuration asks Google's STUN server for a reflexive
  candidate; the SFU has a routable address of its own (or sits behind a load
  balancer), and a STUN round trip on every WHIP/WHEP request would add
  latency or, offline, a timeout. So ``ice_servers=[]``.
* aioice never offers 127.0.0.1. On a host whose only interface is loopback
  (CI containers) no candidate pair could form, so when no other IPv4 address
  exists the loopback address is offered (browsers need
  ``--allow-loopback-in-peer-connection`` to use it).
"""

import asyncio
import contextlib
from collections.abc import Callable

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

_host_addresses: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _host_addresses(use_ipv4, use_ipv6)
    if use_ipv4 and not any(":" not in a for a in addresses):
        addresses.append("127.0.0.1")
    return addresses


aioice.ice.get_host_addresses = _with_loopback


def new_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


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
