"""The OpenAPI document: problem+json errors, bearer schemes, and the SDP routes' shapes.

FastAPI writes most of the document from the routes; this module adds what it
cannot infer: the ``Problem`` schema every error response refers to
(``api.problems.responses``), the media-token scheme of WHIP and WHEP (whose
routes read the token themselves), and their ``application/sdp`` bodies.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.auth import MEDIA_SCHEME
from api.problems import ProblemDetails, responses

SDP = "application/sdp"
MEDIA_TOKEN = "mediaToken"

_SDP_TEXT = {"type": "string", "minLength": 1, "pattern": r"^v=0\r?\n"}
_MEDIA_SECURITY: dict[str, Any] = {"security": [{MEDIA_TOKEN: []}]}


def offer_answer(role: str) -> dict[str, Any]:
    """Route arguments of a WHIP/WHEP POST: an SDP offer in, an SDP answer and a session out."""
    return {
        "openapi_extra": {
            **_MEDIA_SECURITY,
            "requestBody": {
                "required": True,
                "description": f"The {role}'s SDP offer (RFC 8866), with all ICE candidates.",
                "content": {SDP: {"schema": {**_SDP_TEXT, "description": "An SDP offer."}}},
            },
        },
        "responses": {
            201: {
                "description": "The SDP answer; `Location` names the session, to DELETE when done.",
                "content": {SDP: {"schema": {**_SDP_TEXT, "description": "An SDP answer."}}},
                "headers": {
                    "Location": {
                        "description": "The session: `DELETE` it to stop.",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    "ETag": {"description": "The session's version.", "schema": {"type": "string"}},
                },
            },
            **responses(401, 403, 404, 409, 415, 422),
        },
    }


END_SESSION: dict[str, Any] = {
    "openapi_extra": _MEDIA_SECURITY,
    "responses": {204: {"description": "The session is closed."}, **responses(401, 403, 404, 422)},
}
"""Route arguments of the DELETE that ends a WHIP or WHEP session."""

DESCRIPTION = """Live audio rooms.

* Sign in with a bearer JWT (`userToken`); in dev auth mode `POST /v1/auth/dev-token` issues one.
  WHIP and WHEP take the media token that `POST /v1/rooms/{room_id}/join` returns (`mediaToken`).
* Every error is an RFC 9457 `application/problem+json` body (`Problem`) whose `code` names the
  problem for programs and whose `detail` says what to do about it.
* A method a path does not support is answered `405` with an `Allow` header naming every method
  it does support (RFC 9110).
"""


def _augment(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    components.setdefault("securitySchemes", {})[MEDIA_TOKEN] = MEDIA_SCHEME


def install(app: FastAPI) -> None:
    """Serve the augmented document at ``app.openapi_url``."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI until the routes change
        if "Problem" not in document.get("components", {}).get("schemas", {}):
            _augment(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
