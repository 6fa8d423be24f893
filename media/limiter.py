"""Keeping a room's mix inside full scale without clipping it, and measuring levels.

Ten speakers summed can reach ten times full scale. Hard clipping that sum is
what a listener hears as crackle, so the mixer uses two stages:

* ``Limiter``: a gain that follows the mix's peak frame by frame (fast attack,
  slow release), so a loud room is turned down as a whole and its waveform
  keeps its shape;
* ``soft_limit``: a static curve, exact unity below a knee and a smooth bend
  towards (never onto) full scale above it, which catches the peaks the gain
  has not caught yet (the first samples of a sudden loud onset).
"""

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from media.opus import FRAME_SAMPLES, FRAME_US

Pcm = npt.NDArray[np.float32]

KNEE: Final = 0.75  # about -2.5 dBFS: speech mixed at sane levels never reaches it
SILENCE_DBFS: Final = -120.0
_ATTACK_SAMPLES: Final = 96  # 2 ms: the gain ramp down to a louder frame's target
_RELEASE_SECONDS: Final = 0.25  # time constant of the gain's recovery towards 1


def dbfs(pcm: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> float:
    """RMS level in dB relative to full scale (a full-scale sine reads -3.01 dBFS).

    Accepts float32 in [-1, 1] or int16. Digital silence reads ``SILENCE_DBFS``
    (-120) rather than minus infinity, so levels stay finite numbers in events.
    """
    if pcm.size == 0:
        return SILENCE_DBFS
    x = pcm.astype(np.float32) / 32768.0 if pcm.dtype == np.int16 else pcm
    mean_square = float(np.dot(x, x)) / x.size
    if mean_square <= 1e-12:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * math.log10(mean_square))


def soft_limit(mix: npt.NDArray[np.float32]) -> Pcm:
    """Map float32 samples into (-1, 1): unity up to ``KNEE``, a smooth bend above it.

    Above the knee, with ``u = (|x| - KNEE) / (1 - KNEE)``, the output is
    ``KNEE + (1 - KNEE) * u / (1 + u)``: continuous with slope 1 at the knee,
    strictly increasing (so no plateau of equal samples, unlike a clip) and
    approaching but never reaching full scale. Input at or below the knee is
    returned unchanged (the same array, no copy).
    """
    mix = np.asarray(mix, dtype=np.float32)
    if _peak(mix) <= KNEE:
        return mix
    magnitude = np.abs(mix)
    over = magnitude > KNEE
    u = (magnitude[over] - np.float32(KNEE)) / np.float32(1.0 - KNEE)
    bent = np.float32(KNEE) + np.float32(1.0 - KNEE) * (u / (np.float32(1.0) + u))
    out = mix.copy()
    out[over] = np.copysign(bent, mix[over])
    return out


class Limiter:
    """Gain riding on the mix's peak, then ``soft_limit``: one per room, fed every frame.

    Each frame's target gain brings its peak down to ``KNEE``. A target below
    the current gain is reached within 2 ms (attack); above it, the gain
    recovers with a 250 ms time constant (release), ramped linearly inside each
    frame so the gain never steps. While the mix stays below the knee the gain
    stays at exactly 1 and frames pass through untouched.
    """

    def __init__(self) -> None:
        self.gain = 1.0
        self._release = 1.0 - math.exp(-FRAME_US / 1e6 / _RELEASE_SECONDS)
        self._attack_ramp = np.ones(FRAME_SAMPLES, dtype=np.float32)
        self._attack_ramp[:_ATTACK_SAMPLES] = np.linspace(
            1.0 / _ATTACK_SAMPLES, 1.0, _ATTACK_SAMPLES, dtype=np.float32
        )
        self._release_ramp = np.linspace(1.0 / FRAME_SAMPLES, 1.0, FRAME_SAMPLES, dtype=np.float32)
        self._curve = np.empty(FRAME_SAMPLES, dtype=np.float32)

    def process(self, mix: Pcm) -> Pcm:
        """Limit one frame (any length; the ramps assume 960 samples)."""
        peak = _peak(mix)
        target = min(1.0, KNEE / peak) if peak > 0.0 else 1.0
        start = self.gain
        if start == target == 1.0:
            return mix  # the quiet case: unity, and below the knee soft_limit is the identity
        if target < start:
            end, ramp = target, self._attack_ramp
        else:
            end, ramp = start + (target - start) * self._release, self._release_ramp
            if target == 1.0 and 1.0 - end < 1e-4:
                end = 1.0
        self.gain = end
        if mix.shape != ramp.shape:
            return soft_limit(mix * np.float32(end))
        np.multiply(ramp, np.float32(end - start), out=self._curve)
        self._curve += np.float32(start)
        return soft_limit(mix * self._curve)


def _peak(pcm: Pcm) -> float:
    """Largest magnitude, without the temporary array ``np.abs`` would make."""
    if pcm.size == 0:
        return 0.0
    return max(float(pcm.max()), -float(pcm.min()))
