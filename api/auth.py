"""Who is calling: Bearer JWTs (HS256 secret or a JWKS endpoint), and dev tokens."""

from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from api.problems import Problem
from infra.settings import Settings
from media.tokens import MediaTokens, sign
from schemas.base import UserId

USER_AUDIENCE = "stoa"
USER_IDS: TypeAdapter[str] = TypeAdapter(UserId)

user_bearer = HTTPBearer(
    scheme_name="userToken",
    bearerFormat="JWT",
    description="A user token (`sub` = user id); in dev auth mode `POST /v1/auth/dev-token` "
    "issues one.",
    auto_error=False,
)
MEDIA_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The short-lived media token returned by `POST /v1/rooms/{room_id}/join` "
    "(`token`), for that room only.",
}
"""WHIP and WHEP read their token themselves; ``api.openapi`` declares this scheme for them."""


@dataclass(frozen=True)
class User:
    user_id: str
    display_name: str | None = None


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.auth_secret
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url) if settings.auth_jwks_url else None
        self.dev_auth = settings.dev_auth
        self.media = MediaTokens(settings.auth_secret, settings.media_token_ttl)

    def issue_user_token(self, user_id: str, display_name: str | None, ttl: int = 86400) -> str:
        claims = {"sub": user_id, "name": display_name}
        return sign(self._secret, USER_AUDIENCE, ttl, claims)

    def issue_media_token(self, user_id: str, room_id: str, role: str) -> str:
        """Short-lived: a role change (promotion, removal) takes effect at the next join."""
        return self.media.issue(user_id, room_id, role)

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


def _user_from(request: Request, token: str) -> User:
    claims = request.app.state.auth.verify(token)
    try:  # a JWKS issuer may use subjects that are not Stoa user ids
        user_id = USER_IDS.validate_python(str(claims["sub"]))
    except ValidationError as exc:
        raise Problem(
            401, "invalid_token", "The token's subject is not a valid user id "
            "(1-64 letters, digits and _ . : @ -).",
        ) from exc  # fmt: skip
    name = claims.get("name")
    return User(user_id=user_id, display_name=name if isinstance(name, str) else None)


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer)],
) -> User:
    if credentials is None or not credentials.credentials.strip():
        raise Problem(401, "not_authenticated", "Send 'Authorization: Bearer <token>'.")
    return _user_from(request, credentials.credentials.strip())


def maybe_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer)],
    token: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="A user token, for players that cannot send headers (`<audio src>`).",
        ),
    ] = None,
) -> User | None:
    """The caller if they sent a token (header or ``?token=``), None for anyone."""
    if credentials is not None and credentials.credentials.strip():
        return _user_from(request, credentials.credentials.strip())
    if token:
        return _user_from(request, token.strip())
    return None


CurrentUser = Annotated[User, Depends(current_user)]
MaybeUser = Annotated[User | None, Depends(maybe_user)]
