"""The streaming speech-to-text interface every engine implements.

A room's ASR worker owns one ``Transcriber``; it feeds 16 kHz mono float32
audio as it arrives and forwards what comes back: ``Partial`` captions (the
current sentence so far, may still change) and ``Segment`` finals (never
revised, with word times). Times are seconds on the stream's own clock: 0 is
the first sample fed, so the caller maps them to room time by adding where
the stream began.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
"""Every engine takes 16 kHz mono float32 in [-1, 1]."""

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Word:
    """One recognised word; ``prob`` is the engine's confidence in [0, 1]."""

    text: str
    start: float
    end: float
    prob: float


@dataclass(frozen=True)
class Partial:
    """A caption that may still change: shown live, never stored."""

    text: str


@dataclass(frozen=True)
class Segment:
    """Final text with word times: what transcripts, search and moderation keep."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...]


Result = Partial | Segment


def segment_of(words: list[Word]) -> Segment:
    """A final made of ``words`` (non-empty), spanning the first start to the last end."""
    return Segment(
        text=" ".join(w.text for w in words),
        start=words[0].start,
        end=words[-1].end,
        words=tuple(words),
    )


class Transcriber(Protocol):
    """Streaming speech-to-text for one audio stream (one room)."""

    def feed(self, pcm: Audio) -> list[Result]:
        """Take the next stretch of 16 kHz audio; return any new partials and finals."""
        ...

    def flush(self) -> list[Segment]:
        """End of stream: finalise whatever is still pending."""
        ...
