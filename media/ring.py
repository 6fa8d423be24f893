"""A backfill ring: the last few seconds of a room's stream, by seq.

Every node that serves the listen protocol (the mixing node and each relay)
keeps one per room, so a subscriber that lost its connection (a relay that
died, a phone that changed networks) resumes from the seq after the last one
it got: the frames still in the ring are sent again, and a range that fell out
of it is reported as a gap rather than silently skipped.
"""

from collections import deque
from dataclasses import dataclass

from media.wrap import MOD32, unwrap

BACKFILL_FRAMES = 250
"""Frames every node keeps per room: 5 s, well beyond the 2 s a failover takes, and enough
for a listener coming back from HLS (a few seconds behind) to resume without a gap."""


@dataclass(frozen=True)
class Gap:
    """Seqs ``first`` to ``last`` (inclusive, wire values) will never come on this connection."""

    first: int
    last: int

    @property
    def frames(self) -> int:
        return (self.last - self.first) % MOD32 + 1


class FrameRing:
    """The newest ``capacity`` records of one stream, each kept as its framed bytes.

    Seqs are unwrapped as they come in (the wire's wrap at 2**32), so a wire
    ``seq`` asked for by a subscriber is placed relative to the newest one.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a ring holds at least one frame")
        self._frames: deque[tuple[int, bytes]] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def newest(self) -> int | None:
        """The newest seq held (unwrapped), if any."""
        return self._frames[-1][0] if self._frames else None

    def append(self, seq: int, record: bytes) -> int | None:
        """Keep ``record`` (wire ``seq``); returns its unwrapped seq, or None for a stale one."""
        newest = self.newest
        unwrapped = unwrap(seq, newest, MOD32)
        if newest is not None and unwrapped <= newest:
            return None  # a duplicate or a late frame: the ring only grows forward
        self._frames.append((unwrapped, record))
        return unwrapped

    def since(self, seq: int) -> tuple[list[bytes], Gap | None]:
        """Records from wire ``seq`` on, and the range before them that the ring no longer has."""
        newest = self.newest
        if newest is None:
            return [], None
        wanted = unwrap(seq, newest, MOD32)
        if wanted > newest:
            return [], None  # the subscriber is ahead of us (it came from a faster node)
        records: list[bytes] = []
        for held, record in reversed(self._frames):
            if held < wanted:
                break
            records.append(record)
        records.reverse()
        oldest = self._frames[0][0]
        gap = Gap(wanted % MOD32, (oldest - 1) % MOD32) if wanted < oldest else None
        return records, gap
