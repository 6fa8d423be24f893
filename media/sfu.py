"""WHIP ingest (RFC 9725): one peer connection and one Opus track per speaker.

``publish`` answers a speaker's SDP offer and wires the received packets
straight into the room's mixer (``OpusTap``: no aiortc decode). A speaker
publishing again (a reload, a second tab) replaces their previous session,
so a room never mixes one person twice.

Authorization is not decided here: the HTTP layer asks
``projections.admission`` before calling ``publish``.
"""

import functools

from aiortc import RTCPeerConnection

from media.peer import OfferError, ask_for_dtx, audio_sections, prefer_opus
from media.room import RoomHubs
from media.sessions import PeerSession, PeerSessions, Release
from media.tracks import tap


class Sfu(PeerSessions):
    """Every WHIP session of this process."""

    kind = "whip"

    def __init__(self, hubs: RoomHubs) -> None:
        super().__init__()
        self._hubs = hubs

    async def publish(self, room_id: str, user_id: str, offer_sdp: str, muted: bool) -> PeerSession:
        """Answer the offer; the speaker is in the mix (or muted in it) from the first packet."""
        if audio_sections(offer_sdp) != 1:
            raise OfferError("publish exactly one audio track per WHIP session")
        for previous in self.of_user(room_id, user_id):
            await self.end(previous.id, "replaced by a new session")

        def wire(pc: RTCPeerConnection, session: PeerSession) -> Release:
            transceiver = pc.addTransceiver("audio", direction="recvonly")
            prefer_opus(transceiver)
            hub = self._hubs.attach_speaker(room_id, user_id, muted)
            opus = tap(transceiver.receiver, functools.partial(hub.push, user_id))

            def release() -> None:
                opus.stop()
                self._hubs.detach_speaker(room_id, user_id)

            return release

        session = await self.open(room_id, user_id, offer_sdp, wire)
        session.answer = ask_for_dtx(session.answer)
        return session
