"""Bytes on the wire to typed models and back."""

import json
from typing import Any

from pydantic import ValidationError

from schemas.commands import ANY_COMMAND, COMMAND_TYPES, Command
from schemas.events import ANY_EVENT, EVENT_TYPES, Event
from schemas.presence import PresenceBatch
from schemas.upcast import upcast


class UndecodableMessage(ValueError):
    """A message that no consumer can act on; it belongs on the dead-letter topic."""


def _load(raw: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableMessage(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UndecodableMessage(f"expected a JSON object, got {type(value).__name__}")
    return value


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" + (
        f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )


def decode_event(raw: bytes | str | dict[str, Any]) -> Event:
    value = raw if isinstance(raw, dict) else _load(raw)
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise UndecodableMessage(f"unknown event type {kind!r}")
    try:
        event: Event = ANY_EVENT.validate_python(upcast(value))
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid {kind}: {_explain(exc)}") from exc
    except ValueError as exc:  # an old version too malformed to upcast
        raise UndecodableMessage(f"invalid {kind}: {exc}") from exc
    return event


def decode_command(raw: bytes | str) -> Command:
    value = _load(raw)
    if not isinstance(value.get("type"), str) or value["type"] not in COMMAND_TYPES:
        raise UndecodableMessage(f"unknown command type {value.get('type')!r}")
    try:
        command: Command = ANY_COMMAND.validate_python(value)
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid command {value.get('type')!r}: {_explain(exc)}") from exc
    return command


def decode_presence(raw: bytes | str) -> PresenceBatch:
    value = _load(raw)
    if value.get("type") != "PresenceBatch":
        raise UndecodableMessage(f"unknown presence message type {value.get('type')!r}")
    try:
        return PresenceBatch.model_validate(value)
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid PresenceBatch: {_explain(exc)}") from exc
