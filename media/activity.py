"""Who is talking: voice activity per speaker from the mixer's per-frame levels.

Pure: levels and times in, changes out. The SFU turns the changes into
``SpeakerActivity`` events (the recording timeline, highlights). Two thresholds
and a hang time keep a breath, a click or a pause between words from flapping
a speaker on and off:

* a silent speaker starts talking after ``START_FRAMES`` consecutive frames
  louder than ``start_dbfs``;
* a talking speaker stops once nothing louder than ``stop_dbfs`` has come for
  ``hang_seconds``.
"""

from dataclasses import dataclass
from typing import Final

START_FRAMES: Final = 2
_EPSILON: Final = 1e-9  # offsets are sums of 0.02 s steps; do not miss the hang by rounding


@dataclass(frozen=True)
class ActivityChange:
    """A speaker started or stopped talking.

    ``offset_seconds`` is when it happened on the caller's timeline: the first
    loud frame of a start, the last frame above ``stop_dbfs`` of a stop (the
    change itself is reported ``START_FRAMES`` frames, resp. ``hang_seconds``,
    later). ``level_dbfs`` is the level of the frame that decided the change,
    ``None`` when the speaker was absent from that frame's levels.
    """

    speaker_id: str
    talking: bool
    offset_seconds: float
    level_dbfs: float | None


@dataclass
class _State:
    talking: bool = False
    loud_frames: int = 0  # consecutive frames above start_dbfs while not talking
    onset: float = 0.0  # offset of the first of those frames
    last_loud: float = 0.0  # offset of the last frame above stop_dbfs while talking


class ActivityTracker:
    """Folds per-frame levels into talking / not talking per speaker, with hysteresis."""

    def __init__(
        self, start_dbfs: float = -40.0, stop_dbfs: float = -50.0, hang_seconds: float = 0.5
    ) -> None:
        if stop_dbfs > start_dbfs:
            raise ValueError("stop_dbfs must not be above start_dbfs")
        self._start = start_dbfs
        self._stop = stop_dbfs
        self._hang = hang_seconds
        self._states: dict[str, _State] = {}

    def talking(self) -> frozenset[str]:
        """Speakers currently considered talking."""
        return frozenset(s for s, state in self._states.items() if state.talking)

    def update(self, levels: dict[str, float], offset_seconds: float) -> list[ActivityChange]:
        """One frame's levels (dBFS per speaker) at ``offset_seconds``; absent means silent."""
        changes: list[ActivityChange] = []
        for speaker_id in list(self._states.keys() | levels.keys()):
            level = levels.get(speaker_id)
            state = self._states.setdefault(speaker_id, _State())
            change = self._step(speaker_id, state, level, offset_seconds)
            if change is not None:
                changes.append(change)
            if not state.talking and state.loud_frames == 0:
                del self._states[speaker_id]  # nothing to remember about a silent speaker
        changes.sort(key=lambda c: c.speaker_id)
        return changes

    def _step(
        self, speaker_id: str, state: _State, level: float | None, offset: float
    ) -> ActivityChange | None:
        if not state.talking:
            if level is None or level <= self._start:
                state.loud_frames = 0
                return None
            if state.loud_frames == 0:
                state.onset = offset
            state.loud_frames += 1
            if state.loud_frames < START_FRAMES:
                return None
            state.talking, state.loud_frames, state.last_loud = True, 0, offset
            return ActivityChange(speaker_id, True, state.onset, level)
        if level is not None and level > self._stop:
            state.last_loud = offset
            return None
        if offset - state.last_loud + _EPSILON < self._hang:
            return None
        state.talking = False
        return ActivityChange(speaker_id, False, state.last_loud, level)
