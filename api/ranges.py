"""HTTP byte ranges (RFC 9110 §14): which bytes of a stored file a request asks for.

Players seek by asking for ``Range: bytes=start-end``; this decides, from the
header, ``If-Range`` and the file's size and ETag, whether to answer the whole
file (200), one range (206) or that the range cannot be served (416). One
range per request: players never ask for more, and a multi-range answer would
need a multipart body nobody reads.
"""

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    """The Range header is malformed or asks for bytes past the end: answer 416."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """Exclusive."""
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def select(range_header: str | None, if_range: str | None, size: int, etag: str) -> ByteRange:
    """The bytes to send: all of them unless a valid, still-current range is asked for.

    Raises ``RangeNotSatisfiable`` for a malformed or unsatisfiable range.
    """
    whole = ByteRange(0, size, partial=False)
    if range_header is None:
        return whole
    if if_range is not None and if_range.strip() != f'"{etag}"':
        return whole  # the file changed since the client's copy (or a date validator): all of it
    match = _SPEC.match(range_header.strip().replace(" ", ""))
    if match is None:
        raise RangeNotSatisfiable(f"cannot read the range {range_header!r}")
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable("a range needs a start or a length")
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("an empty suffix range")
        return ByteRange(max(0, size - suffix), size, partial=True)
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(f"bytes {start}- are past the end ({size} bytes)")
    return ByteRange(start, end, partial=True)
