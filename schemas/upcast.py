"""Upcasting: old event versions are translated on read, never rewritten.

The log is immutable, so a consumer built today must still understand an event
written by last year's producer. Each upcaster lifts one (type, version) to the
next version; ``upcast`` applies them until the current version is reached.
"""

import unicodedata
from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]
Upcaster = Callable[[Raw], Raw]


def _room_created_v1_to_v2(raw: Raw) -> Raw:
    """v1 rooms had one free-text ``topic``; v2 has a list of topic slugs."""
    if not isinstance(raw.get("data"), dict):
        raise ValueError("v1 RoomCreated has no data object")
    data = dict(raw["data"])
    topic = data.pop("topic", None)
    data["topics"] = [_slug(topic)] if topic else []
    return {**raw, "version": 2, "data": data}


def _slug(text: object) -> str:
    """Topic slugs are ASCII: accents are dropped ("Café" -> "cafe"), symbols become dashes."""
    if not isinstance(text, str):
        raise ValueError(f"v1 topic must be text, got {type(text).__name__}")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = "".join(c if c.isalnum() else "-" for c in ascii_text.strip().lower())
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "general"


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("RoomCreated", 1): _room_created_v1_to_v2,
}


def upcast(raw: Raw) -> Raw:
    """Lift a raw event dict to the newest version this code knows.

    Raises ``ValueError`` when an old event is too malformed to lift.
    """
    while True:
        kind, version = raw.get("type", ""), raw.get("version", 1)
        if not isinstance(kind, str) or not isinstance(version, int):
            return raw  # validation reports the bad field
        step = UPCASTERS.get((kind, version))
        if step is None:
            return raw
        raw = step(raw)
