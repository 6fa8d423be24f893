"""Where a person should listen to a room right now, as URLs they can follow.

The tier says which path (``projections.tiers.path_for``); placement says
which relay (``projections.placement``); this turns the two into URLs with a
fresh media token, for the join answer and for ``moved`` messages alike.
"""

from dataclasses import dataclass, field

from media.directory import RelayDirectory
from media.tokens import MediaTokens
from media.urls import hls_url, listen_url
from projections.tiers import Path, Tier, path_for
from schemas.room import MemberRole

HLS_TOKEN_TTL = 4 * 3600
"""An HLS player reloads one playlist URL for as long as it plays; each request is still
checked against the room, so a removed listener is refused at once."""


@dataclass(frozen=True)
class Listening:
    """How one person should listen: the tier's path, and every URL they may need."""

    token: str
    tier: Tier
    path: Path
    websocket: str
    """The WebSocket to use: a relay on the ``relay`` path, else the mixing node."""
    hls: str
    fallbacks: list[str] = field(default_factory=list)
    """Other WebSocket URLs, best first, for when ``websocket`` goes away."""

    @property
    def preferred(self) -> str:
        return "hls" if self.path == "hls" else "websocket"


class Routes:
    def __init__(self, directory: RelayDirectory, tokens: MediaTokens, origin: str) -> None:
        self.directory = directory
        self.tokens = tokens
        self.origin = origin

    def listening(
        self,
        room_id: str,
        user_id: str,
        role: MemberRole,
        hand_raised: bool,
        tier: Tier,
        origin_base: str | None = None,
    ) -> Listening:
        """``origin_base``: the mixing node as the caller reached it (default ``self.origin``)."""
        path = path_for(tier, role, hand_raised)
        token = self._token(user_id, room_id, role)
        base = origin_base or self.origin
        origin = listen_url(base, room_id, token)
        leaves = self.directory.place(room_id, assign=path == "relay")
        relays = [listen_url(r.url, room_id, token) for r in leaves]
        hls = hls_url(
            self.origin, room_id, self.tokens.issue(user_id, room_id, role, HLS_TOKEN_TTL)
        )
        if path == "origin" or not relays:
            return Listening(token, tier, "origin" if path != "hls" else path, origin, hls, relays)
        return Listening(token, tier, path, relays[0], hls, [*relays[1:], origin])

    def move(
        self, room_id: str, user_id: str, role: MemberRole, path: Path
    ) -> tuple[str, str] | None:
        """``(kind, url)`` for a listener moving to ``path``, or None if there is nowhere to go."""
        if path == "origin":
            return "websocket", listen_url(
                self.origin, room_id, self._token(user_id, room_id, role)
            )
        if path == "hls":
            token = self.tokens.issue(user_id, room_id, role, HLS_TOKEN_TTL)
            return "hls", hls_url(self.origin, room_id, token)
        leaves = self.directory.place(room_id, assign=True)
        if not leaves:
            return None
        return "websocket", listen_url(leaves[0].url, room_id, self._token(user_id, room_id, role))

    def _token(self, user_id: str, room_id: str, role: MemberRole) -> str:
        return self.tokens.issue(user_id, room_id, role)
