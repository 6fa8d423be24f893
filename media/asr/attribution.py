"""Who said a caption: the speaker whose talking turns overlap its time the most.

Turns come from the mixing node's activity tracker (the ``talking`` header of
``stoa.room-audio``, the same turns ``SpeakerActivity`` journals), as the set
of talking speakers from a frame on, until the next change. Two people
talking over each other both overlap; the one who talked longer within the
caption's span wins, ties going to the one who started first (then by name,
so replays agree).
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

FRAME_SECONDS = 0.020


@dataclass
class Turns:
    """Talking sets by frame seq, in order; older than ``keep_seconds`` is forgotten."""

    keep_seconds: float = 120.0
    seqs: list[int] = field(default_factory=list)
    sets: list[frozenset[str]] = field(default_factory=list)

    def add(self, seq: int, talking: Iterable[str]) -> None:
        """The talking set from ``seq`` on (out-of-order or repeated changes are ignored)."""
        now = frozenset(talking)
        if self.seqs and seq <= self.seqs[-1]:
            return
        if self.sets and self.sets[-1] == now:
            return
        self.seqs.append(seq)
        self.sets.append(now)
        horizon = seq - round(self.keep_seconds / FRAME_SECONDS)
        cut = bisect_right(self.seqs, horizon) - 1
        if cut > 0:
            del self.seqs[:cut], self.sets[:cut]

    def speaker(self, start: float, end: float) -> str | None:
        """The speaker talking most between ``start`` and ``end`` (room seconds), or None."""
        first, last = round(start / FRAME_SECONDS), max(round(end / FRAME_SECONDS), 1)
        if last <= first:
            last = first + 1
        talked: dict[str, int] = {}
        began: dict[str, int] = {}
        lo = max(bisect_right(self.seqs, first) - 1, 0)
        for i in range(lo, len(self.seqs)):
            span_start = max(self.seqs[i], first)
            span_end = min(self.seqs[i + 1] if i + 1 < len(self.seqs) else last, last)
            if span_start >= last:
                break
            if span_end <= span_start:
                continue
            for user in self.sets[i]:
                talked[user] = talked.get(user, 0) + span_end - span_start
                began.setdefault(user, span_start)
        if not talked:
            return None
        return min(talked, key=lambda u: (-talked[u], began[u], u))
