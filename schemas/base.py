"""Shared base for wire models: frozen, strict about unknown fields."""

import functools
import operator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""Timezone-aware instant normalised to UTC, so replays compare equal."""

UserId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")]
RoomId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class WireModel(BaseModel):
    """Immutable, rejects unknown fields: a typo on the wire is an error, not data loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def utcnow() -> datetime:
    return datetime.now(UTC)


def by_type(classes: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """Each message class by the default of its ``type`` field."""
    return {cls.model_fields["type"].default: cls for cls in classes}


def tagged_union(classes: tuple[type[BaseModel], ...]) -> TypeAdapter[Any]:
    """A validator that picks the class by ``type``, built from the one list of classes.

    Spelling the union out again beside the list meant two places to change
    for every new message type.
    """
    union = functools.reduce(operator.or_, classes)
    discriminated: Any = Annotated[union, Field(discriminator="type")]
    return TypeAdapter(discriminated)
