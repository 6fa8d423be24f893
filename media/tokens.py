"""Media tokens: who may hear (or speak in) one room, checked by every media node.

``POST /join`` issues a short-lived token for the caller's role in one room;
the mixing node, every relay and the HLS routes verify it with the shared
secret (``STOA_AUTH_SECRET``), so a listener moved or failed over to another
node needs nothing new. Relays subscribe upstream with a relay token of their
own, which names no room: a relay carries whatever rooms its listeners ask for.
"""

import time
from dataclasses import dataclass
from typing import Any, Final, cast, get_args

import jwt

from schemas.room import Role

MEDIA_AUDIENCE: Final = "stoa-media"
RELAY_AUDIENCE: Final = "stoa-relay"
RELAY_TOKEN_TTL: Final = 3600


def sign(secret: str, audience: str, ttl: int, claims: dict[str, Any]) -> str:
    """An HS256 JWT for ``audience``, valid from now for ``ttl`` seconds."""
    now = int(time.time())
    return jwt.encode(
        {**claims, "aud": audience, "iat": now, "exp": now + ttl}, secret, algorithm="HS256"
    )


@dataclass(frozen=True)
class Grant:
    """Who a media token says its holder is, and what they were when they joined."""

    user_id: str
    role: Role
    relay: bool = False
    """A relay's own token: it may hear any live room and names no person."""


class TokenRefused(Exception):
    """A token that admits nobody here; ``status`` is 401 (bad or expired) or 403 (another room)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class MediaTokens:
    def __init__(self, secret: str, ttl: int) -> None:
        self._secret = secret
        self.ttl = ttl

    def issue(self, user_id: str, room_id: str, role: str, ttl: int | None = None) -> str:
        """Short-lived: a role change (promotion, removal) takes effect at the next join."""
        claims = {"sub": user_id, "room": room_id, "role": role}
        return sign(self._secret, MEDIA_AUDIENCE, ttl or self.ttl, claims)

    def issue_relay(self, relay_id: str) -> str:
        return sign(self._secret, RELAY_AUDIENCE, RELAY_TOKEN_TTL, {"sub": relay_id})

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        decoded: dict[str, Any] = jwt.decode(
            token,
            self._secret,
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["sub", "exp"]},
        )
        return decoded

    def grant(self, token: str, room_id: str) -> Grant:
        """The holder of ``token`` in ``room_id``, or ``TokenRefused``."""
        if not token:
            raise TokenRefused(401, "not_authenticated", "Send the media token returned by join.")
        try:
            audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
            if audience == RELAY_AUDIENCE:
                claims = self._decode(token, RELAY_AUDIENCE)
                return Grant(str(claims["sub"]), "listener", relay=True)
            claims = self._decode(token, MEDIA_AUDIENCE)
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused(
                401, "token_expired", "Your media token has expired; join again."
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenRefused(
                401, "invalid_token", f"The media token is not valid: {exc}."
            ) from exc
        if claims.get("room") != room_id:
            raise TokenRefused(403, "wrong_room", "This media token was issued for another room.")
        role = claims.get("role")
        return Grant(str(claims["sub"]), cast(Role, role) if role in get_args(Role) else "listener")
