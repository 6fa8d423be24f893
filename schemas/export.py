"""JSON Schema export: one file per message type, for services in other languages."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.captions import Caption, CaptionsStatus
from schemas.commands import COMMAND_CLASSES, CommandResult
from schemas.deadletter import DeadLetter
from schemas.events import EVENT_CLASSES
from schemas.presence import PresenceBatch, PresenceCounts
from schemas.relay import RelayLoad

DEFAULT_DIR = Path(__file__).parent / "json"


def _documents() -> dict[str, type[BaseModel]]:
    docs: dict[str, type[BaseModel]] = {}
    for cls in EVENT_CLASSES:
        docs[f"event.{cls.model_fields['type'].default}"] = cls
    for cmd in COMMAND_CLASSES:
        docs[f"command.{cmd.model_fields['type'].default}"] = cmd
    others = (CommandResult, PresenceBatch, PresenceCounts, DeadLetter, RelayLoad)
    for other in (*others, Caption, CaptionsStatus):
        docs[other.__name__] = other
    return docs


def schema_of(cls: type[BaseModel]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://stoa.dev/schemas/{cls.__name__}.json"
    return schema


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cls in sorted(_documents().items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(schema_of(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def load(directory: Path = DEFAULT_DIR) -> dict[str, dict[str, Any]]:
    """Exported schemas by file stem (``event.RoomStarted`` ...)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}
