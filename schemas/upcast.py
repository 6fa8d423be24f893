"""Upcasting: old event versions are translated on read, never rewritten.

The log is immutable, so a consumer built today must still understand an event
written by last year's producer. Each upcaster lifts one (type, version) to the
next version; ``upcast`` applies them until the current version is reached.
"""

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]
Upcaster = Callable[[Raw], Raw]


def _room_created_v1_to_v2(raw: Raw) -> Raw:
    """v1 rooms had one free-text ``topic``; v2 has a list of topic slugs."""
    data = dict(raw.get("data") or {})
    topic = data.pop("topic", None)
    data["topics"] = [_slug(topic)] if topic else []
    return {**raw, "version": 2, "data": data}


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.strip().lower())
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "general"


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("RoomCreated", 1): _room_created_v1_to_v2,
}


def upcast(raw: Raw) -> Raw:
    """Lift a raw event dict to the newest version this code knows."""
    while (step := UPCASTERS.get((raw.get("type", ""), raw.get("version", 1)))) is not None:
        raw = step(raw)
    return raw
