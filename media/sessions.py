"""WebRTC sessions, WHIP and WHEP alike: one negotiation path and one lifecycle.

A session is a peer connection plus what it is wired to in its room's hub (a
speaker's tap, a listener's tracks). ``PeerSessions.open`` builds the peer
connection, lets the caller wire it (``Wiring``: add transceivers before the
offer, attach to the hub, and say how to undo that), negotiates, and from
then on ends the session the same way whatever ends it: ``DELETE`` on its
Location, the peer going away, a peer that never connects, or enforcement.

Ending is two steps. ``detach`` is synchronous and takes the session out of
its room at once (enforcement calls it so a removed speaker is silent from
the next tick); ``close_detached`` then closes the peer connections, which
can take a while and must not hold the room's clock.
"""

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from media.peer import close_quietly, negotiate, new_peer_connection

log = logging.getLogger("stoa.media")

CONNECT_TIMEOUT = 20.0
"""Seconds a session may stay unconnected before it is dropped (the peer never showed up)."""

Release = Callable[[], None]
"""Takes a session's wiring out of its room (synchronous, idempotent)."""
Wiring = Callable[[RTCPeerConnection, "PeerSession"], Release]
"""Adds a new session's transceivers and attaches them to the room; returns how to undo it."""


@dataclass(eq=False)
class PeerSession:
    id: str
    room_id: str
    user_id: str
    pc: RTCPeerConnection
    answer: str = ""
    release: Release = lambda: None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class PeerSessions:
    """Every session of one kind (WHIP or WHEP) in this process, by id."""

    kind = "webrtc"

    def __init__(self) -> None:
        self.sessions: dict[str, PeerSession] = {}
        self._detached: list[PeerSession] = []
        self._tasks: set[asyncio.Future[bool]] = set()

    def in_room(self, room_id: str) -> list[PeerSession]:
        return [s for s in self.sessions.values() if s.room_id == room_id]

    def of_user(self, room_id: str, user_id: str) -> list[PeerSession]:
        return [s for s in self.in_room(room_id) if s.user_id == user_id]

    async def open(self, room_id: str, user_id: str, offer_sdp: str, wire: Wiring) -> PeerSession:
        """Answer ``offer_sdp`` for a new session; ``OfferError`` if it cannot be served."""
        pc = new_peer_connection()
        session = PeerSession(secrets.token_urlsafe(12), room_id, user_id, pc)
        self.sessions[session.id] = session

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end(session.id, f"peer connection {pc.connectionState}")

        try:
            session.release = wire(pc, session)
            session.answer = await negotiate(pc, offer_sdp)
        except BaseException:
            await self.end(session.id, "offer failed")
            raise
        asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._expire, session)
        log.info("%s %s: %s in %s", self.kind, session.id, user_id, room_id)
        return session

    def _expire(self, session: PeerSession) -> None:
        if not session.closed.is_set() and session.pc.connectionState != "connected":
            self.end_soon(session.id, "never connected")

    def detach(self, session_id: str) -> PeerSession | None:
        """Take the session out of its room now; ``close_detached`` closes the peer later."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        session.release()
        session.closed.set()
        self._detached.append(session)
        return session

    def detach_user(self, room_id: str, user_id: str) -> list[PeerSession]:
        return [s for s in self.of_user(room_id, user_id) if self.detach(s.id) is not None]

    def detach_room(self, room_id: str) -> list[PeerSession]:
        return [s for s in self.in_room(room_id) if self.detach(s.id) is not None]

    async def close_detached(self) -> None:
        closing, self._detached = self._detached, []
        await asyncio.gather(*(close_quietly(s.pc) for s in closing))

    async def end(self, session_id: str, reason: str) -> bool:
        session = self.detach(session_id)
        if session is None:
            return False
        log.info("%s %s: %s leaves %s (%s)", self.kind, session.id, session.user_id,
                 session.room_id, reason)  # fmt: skip
        await self.close_detached()
        return True

    def end_soon(self, session_id: str, reason: str) -> None:
        """End a session from synchronous code (a listener hung up by its room)."""
        task = asyncio.ensure_future(self.end(session_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for session_id in list(self.sessions):
            self.detach(session_id)
        await self.close_detached()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
