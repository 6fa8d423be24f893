"""WHIP ingest (RFC 9725): one peer connection and one Opus track per speaker.

``publish`` answers a speaker's SDP offer and wires the received packets
straight into the room's mixer (``OpusTap``: no aiortc decode). A speaker
publishing again (a reload, a second tab) replaces their previous session,
so a room never mixes one person twice. Sessions end on ``DELETE``, when the
peer goes away, or by enforcement (demotion, removal, end of the room).

Authorization is not decided here: the HTTP layer checks the token and the
room's current state before calling ``publish``.
"""

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCSessionDescription

from media.peer import (
    OfferError,
    ask_for_dtx,
    audio_sections,
    close_quietly,
    new_peer_connection,
    prefer_opus,
)
from media.room import RoomHubs
from media.tracks import OpusTap, tap

log = logging.getLogger("stoa.media")

CONNECT_TIMEOUT = 20.0
"""Seconds a session may stay unconnected before it is dropped (the peer never showed up)."""


@dataclass
class WhipSession:
    id: str
    room_id: str
    user_id: str
    pc: RTCPeerConnection
    answer: str = ""
    receiver: OpusTap | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def packets(self) -> int:
        return self.receiver.packets if self.receiver is not None else 0


class Sfu:
    """Every WHIP session of this process, by id and by (room, user)."""

    def __init__(self, hubs: RoomHubs) -> None:
        self._hubs = hubs
        self.sessions: dict[str, WhipSession] = {}
        self._by_user: dict[tuple[str, str], str] = {}
        self._detached: list[WhipSession] = []
        self._closing: set[asyncio.Future[None]] = set()

    def session_of(self, room_id: str, user_id: str) -> WhipSession | None:
        session_id = self._by_user.get((room_id, user_id))
        return self.sessions.get(session_id) if session_id else None

    def in_room(self, room_id: str) -> list[WhipSession]:
        return [s for s in self.sessions.values() if s.room_id == room_id]

    async def publish(self, room_id: str, user_id: str, offer_sdp: str, muted: bool) -> WhipSession:
        """Answer the offer; the speaker is in the mix (or muted in it) from the first packet."""
        if audio_sections(offer_sdp) != 1:
            raise OfferError("publish exactly one audio track per WHIP session")
        previous = self.session_of(room_id, user_id)
        if previous is not None:
            await self.end(previous.id, "replaced by a new session")

        pc = new_peer_connection()
        session = WhipSession(secrets.token_urlsafe(12), room_id, user_id, pc)
        hub = self._hubs.open(room_id)
        self.sessions[session.id] = session
        self._by_user[(room_id, user_id)] = session.id
        hub.add_speaker(user_id, muted)

        def sink(seq: int, timestamp: int, payload: bytes, arrival_us: int) -> None:
            hub.push(user_id, seq, timestamp, payload, arrival_us)

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end(session.id, f"peer connection {pc.connectionState}")

        # The transceiver exists before the offer is applied, so aiortc negotiates it
        # with our codec preference (Opus only) and the tap is in place from packet one.
        transceiver = pc.addTransceiver("audio", direction="recvonly")
        prefer_opus(transceiver)
        session.receiver = tap(transceiver.receiver, sink)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await self.end(session.id, "offer failed")
            raise OfferError(f"the offer could not be negotiated ({exc})") from exc
        session.answer = ask_for_dtx(pc.localDescription.sdp)
        asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._expire, session)
        log.info("whip %s: %s publishes in %s", session.id, user_id, room_id)
        return session

    def _expire(self, session: WhipSession) -> None:
        if not session.closed.is_set() and session.pc.connectionState != "connected":
            self.detach(session.id)
            task = asyncio.ensure_future(self.close_detached())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def detach(self, session_id: str) -> WhipSession | None:
        """Take the speaker out of the mix now; ``close_detached`` closes the peer later.

        Enforcement calls this first because it is synchronous: the speaker is
        silent from the next tick, whatever closing the peer connection costs.
        """
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        if self._by_user.get((session.room_id, session.user_id)) == session_id:
            del self._by_user[(session.room_id, session.user_id)]
        if session.receiver is not None:
            session.receiver._enabled = False  # packets still in flight are dropped
        hub = self._hubs.get(session.room_id)
        if hub is not None:
            hub.remove_speaker(session.user_id)
            self._hubs.release(session.room_id)
        session.closed.set()
        self._detached.append(session)
        return session

    def detach_user(self, room_id: str, user_id: str) -> WhipSession | None:
        session = self.session_of(room_id, user_id)
        return self.detach(session.id) if session is not None else None

    async def close_detached(self) -> None:
        closing, self._detached = self._detached, []
        await asyncio.gather(*(close_quietly(s.pc) for s in closing))

    async def end(self, session_id: str, reason: str) -> bool:
        session = self.detach(session_id)
        if session is None:
            return False
        log.info("whip %s: %s leaves %s (%s)", session.id, session.user_id, session.room_id, reason)
        await self.close_detached()
        return True

    async def close(self) -> None:
        for session_id in list(self.sessions):
            self.detach(session_id)
        await self.close_detached()
