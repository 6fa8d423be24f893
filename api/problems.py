"""RFC 9457 problem details: the one place errors become HTTP responses.

Every error the gateway answers is ``application/problem+json`` (``ProblemDetails``),
and every route declares in the OpenAPI document which statuses it can answer
(``responses``). A method a path does not support is 405 with an ``Allow`` header
that names every method the path does support (RFC 9110).
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from api.routes import allowed_methods, route_path
from schemas.commands import Rejection

MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    416: "Range not satisfiable",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
    504: "Timed out",
}

WHEN = {
    401: "No bearer token, or one that is invalid or expired (`WWW-Authenticate: Bearer`).",
    403: "The caller's role may not do this (`not_host`, `not_moderator`, `removed`, ...).",
    404: "No such room or media session (`room_not_found`, `session_not_found`, ...).",
    409: "The room's state forbids it (`room_ended`, `already_live`, `speaker_cap`, ...).",
    415: "The request body is not of the declared media type.",
    416: "The `Range` header is malformed or starts past the end of the file "
    "(`range_not_satisfiable`); `Content-Range: bytes */<size>` gives the size.",
    422: "The request is not valid: a malformed id, parameter or body (`invalid_request`, with "
    "`errors` per field; `invalid_body` when it cannot be parsed at all), or a value the room "
    "refuses (`schedule_in_past`, `start_conflict`).",
    429: "The caller acts too fast; `Retry-After` says when to try again (`rate_limited`).",
    504: "The room service did not answer in time; the command may still be applied "
    "(`command_timeout`).",
}
"""When each status is answered, for the OpenAPI document."""


class FieldError(BaseModel):
    field: str = Field(description="The invalid field, dotted (`title`, `topics.0`, `room_id`).")
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: every error this API answers, as ``application/problem+json``."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A URI reference naming the problem type: `/problems/<code>`.")
    title: str = Field(description="A short summary of the status.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong, in a sentence a person can act on.")
    instance: str = Field(description="The path of the request.")
    code: str = Field(description="The problem, for programs (`room_not_found`, `rate_limited`).")
    errors: list[FieldError] | None = Field(
        default=None, description="Only for `invalid_request`: one entry per invalid field."
    )


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme to use: `Bearer`.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    416: {
        "Content-Range": {
            "description": "`bytes */<size>`: the size of the file.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route for the error statuses it can answer."""
    return {
        status: {
            "description": WHEN.get(status, TITLES.get(status, "Error")),
            "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


class Problem(Exception):
    """Raise anywhere in a route; the handler renders it as problem+json."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        self.headers = headers or {}

    @classmethod
    def from_rejection(cls, rejection: Rejection) -> "Problem":
        return cls(rejection.status, rejection.code, rejection.detail)


def problem_response(
    request: HTTPConnection,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        **extra,
    }
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """One readable sentence plus a per-field list for clients that want it."""
    errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    sentence = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    if len(errors) > 3:
        sentence += f" (and {len(errors) - 3} more)"
    return f"The request is not valid: {sentence}.", errors


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = describe_validation(exc)
        return problem_response(request, 422, "invalid_request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 400:  # FastAPI could not parse the body (not UTF-8, ...)
            why = detail.rstrip(".").lower()
            return problem_response(
                request, 422, "invalid_body", f"The request body cannot be read ({why})."
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is nothing at {request.url.path}."
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path whose methods
            # are separate routes (PUT and DELETE) supports all of them.
            methods = allowed_methods(request.app, route_path(request.scope)) or sorted(
                m.strip() for m in headers.get("Allow", "").split(",") if m.strip()
            )
            headers["Allow"] = ", ".join(methods)
            detail = f"{request.method} is not supported here; use {' or '.join(methods)}."
        return problem_response(request, exc.status_code, code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request, 500, "internal_error", "Something went wrong on our side; it was logged."
        )
