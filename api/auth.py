"""Who is calling: Bearer JWTs (HS256 secret or a JWKS endpoint), and dev tokens."""

import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from api.problems import Problem
from infra.settings import Settings

USER_AUDIENCE = "stoa"
MEDIA_AUDIENCE = "stoa-media"


@dataclass(frozen=True)
class User:
    user_id: str
    display_name: str | None = None


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.auth_secret
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url) if settings.auth_jwks_url else None
        self.dev_auth = settings.dev_auth
        self.media_ttl = settings.media_token_ttl

    def issue_user_token(self, user_id: str, display_name: str | None, ttl: int = 86400) -> str:
        now = int(time.time())
        claims = {
            "sub": user_id,
            "name": display_name,
            "aud": USER_AUDIENCE,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def issue_media_token(self, user_id: str, room_id: str, role: str) -> str:
        """Short-lived: a role change (promotion, removal) takes effect at the next join."""
        now = int(time.time())
        claims = {
            "sub": user_id,
            "room": room_id,
            "role": role,
            "aud": MEDIA_AUDIENCE,
            "iat": now,
            "exp": now + self.media_ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str, audience: str = USER_AUDIENCE) -> dict[str, Any]:
        try:
            if self._jwks is not None and audience == USER_AUDIENCE:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256", "ES256", "EdDSA"],
                    audience=audience,
                    options={"require": ["sub", "exp"]},
                )
                return claims
            return jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Problem(401, "token_expired", "Your token has expired; sign in again.") from exc
        except jwt.PyJWTError as exc:
            raise Problem(401, "invalid_token", f"The bearer token is not valid: {exc}.") from exc


def current_user(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "not_authenticated", "Send 'Authorization: Bearer <token>'.")
    claims = request.app.state.auth.verify(token.strip())
    return User(user_id=str(claims["sub"]), display_name=claims.get("name"))


CurrentUser = Annotated[User, Depends(current_user)]
