"""WHEP listeners: receive-only WebRTC fed with the room's already-encoded packets.

Each listener's peer connection sends ``PacketTrack``s, so aiortc only
packetizes and encrypts per listener; the room's mix is encoded once, by the
mixer. A listener asking for ``mixing=client`` gets one track per audio
section of its offer, mapped to speaker slots (see ``media.room``); each
track's MediaStream id is the speaker's user id at negotiation time, so a page
can label its volume sliders. A slot whose speaker changes later keeps its
stream id (renegotiation is not implemented): reconnect to relabel.
"""

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCSessionDescription

from media.peer import OfferError, audio_sections, close_quietly, new_peer_connection, prefer_opus
from media.room import ClientMixListener, RoomHubs
from media.tracks import PacketTrack

log = logging.getLogger("stoa.media")

MAX_CLIENT_TRACKS = 5


@dataclass
class WhepSession:
    id: str
    room_id: str
    user_id: str
    pc: RTCPeerConnection
    tracks: list[PacketTrack]
    client: ClientMixListener | None = None
    answer: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class WhepServer:
    """Every WHEP session of this process."""

    def __init__(self, hubs: RoomHubs) -> None:
        self._hubs = hubs
        self.sessions: dict[str, WhepSession] = {}

    def in_room(self, room_id: str) -> list[WhepSession]:
        return [s for s in self.sessions.values() if s.room_id == room_id]

    async def serve(
        self, room_id: str, user_id: str, offer_sdp: str, client_mixing: bool = False
    ) -> WhepSession:
        sections = audio_sections(offer_sdp)
        if sections > 1 and not client_mixing:
            raise OfferError("the mixed stream is one track: offer one audio section")
        if sections > MAX_CLIENT_TRACKS:
            raise OfferError(f"offer at most {MAX_CLIENT_TRACKS} audio sections")
        hub = self._hubs.open(room_id)
        pc = new_peer_connection()
        slots = list(hub.slots) if client_mixing else []
        tracks = [
            PacketTrack(track_id=f"{room_id}-{slots[i] if i < len(slots) else 'slot'}-{i}")
            for i in range(sections)
        ]
        session = WhepSession(secrets.token_urlsafe(12), room_id, user_id, pc, tracks)
        self.sessions[session.id] = session

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end(session.id)

        for i, track in enumerate(tracks):  # before the offer: negotiated with our preference
            transceiver = pc.addTransceiver(track, direction="sendonly")
            prefer_opus(transceiver)
            if client_mixing and i < len(slots) and slots[i] is not None:
                transceiver.sender._stream_id = str(slots[i])
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await self.end(session.id)
            raise OfferError(f"the offer could not be negotiated ({exc})") from exc
        if client_mixing:
            session.client = hub.add_client_listener(tracks, user_id)
        else:
            hub.add_whep_track(tracks[0], user_id)
        session.answer = pc.localDescription.sdp
        return session

    async def end(self, session_id: str) -> bool:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        hub = self._hubs.get(session.room_id)
        if hub is not None:
            if session.client is not None:
                hub.remove_client_listener(session.client)
            for track in session.tracks:
                hub.remove_whep_track(track)
            self._hubs.release(session.room_id)
        for track in session.tracks:
            track.stop()
        session.closed.set()
        await close_quietly(session.pc)
        return True

    async def end_room(self, room_id: str) -> None:
        await asyncio.gather(*(self.end(s.id) for s in self.in_room(room_id)))

    async def end_user(self, room_id: str, user_id: str) -> None:
        sessions = [s for s in self.in_room(room_id) if s.user_id == user_id]
        await asyncio.gather(*(self.end(s.id) for s in sessions))

    async def close(self) -> None:
        await asyncio.gather(*(self.end(s) for s in list(self.sessions)))
