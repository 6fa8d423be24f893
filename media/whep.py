"""WHEP listeners: receive-only WebRTC fed with the room's already-encoded packets.

Each listener's peer connection sends ``PacketTrack``s, so aiortc only
packetizes and encrypts per listener; the room's mix is encoded once, by the
mixer. A listener asking for ``mixing=client`` gets one track per audio
section of its offer, mapped to speaker slots (see ``media.room``); each
track's MediaStream id is the speaker's user id at negotiation time, so a page
can label its volume sliders. A slot whose speaker changes later keeps its
stream id (renegotiation is not implemented): reconnect to relabel.
"""

from aiortc import RTCPeerConnection

from media.aiortc_compat import set_stream_id
from media.listeners import ClientMixListener, Listener, WhepListener
from media.peer import OfferError, audio_sections, prefer_opus
from media.room import RoomHubs
from media.sessions import PeerSession, PeerSessions, Release
from media.tracks import PacketTrack

MAX_CLIENT_TRACKS = 5


class WhepServer(PeerSessions):
    """Every WHEP session of this process."""

    kind = "whep"

    def __init__(self, hubs: RoomHubs) -> None:
        super().__init__()
        self._hubs = hubs

    async def serve(
        self, room_id: str, user_id: str, offer_sdp: str, client_mixing: bool = False
    ) -> PeerSession:
        sections = audio_sections(offer_sdp)
        if sections > 1 and not client_mixing:
            raise OfferError("the mixed stream is one track: offer one audio section")
        if sections > MAX_CLIENT_TRACKS:
            raise OfferError(f"offer at most {MAX_CLIENT_TRACKS} audio sections")

        def wire(pc: RTCPeerConnection, session: PeerSession) -> Release:
            slots = list(self._hubs.open(room_id).slots) if client_mixing else []
            tracks = []
            for i in range(sections):
                speaker = slots[i] if i < len(slots) else None
                track = PacketTrack(track_id=f"{room_id}-{speaker or 'slot'}-{i}")
                transceiver = pc.addTransceiver(track, direction="sendonly")
                prefer_opus(transceiver)
                if speaker is not None:
                    set_stream_id(transceiver.sender, speaker)
                tracks.append(track)

            def hang_up() -> None:
                self.end_soon(session.id, "closed by its room")

            listener: Listener = (
                ClientMixListener(tracks, user_id, slots, hang_up)
                if client_mixing
                else WhepListener(tracks[0], user_id, hang_up)
            )
            self._hubs.attach(room_id, listener)

            def release() -> None:
                self._hubs.detach(room_id, listener)
                for track in tracks:
                    track.stop()

            return release

        return await self.open(room_id, user_id, offer_sdp, wire)
