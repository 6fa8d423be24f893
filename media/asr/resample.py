"""48 kHz mix audio to the 16 kHz the engines want, and audio files read at 16 kHz.

PyAV's ``AudioResampler`` (libswresample) keeps its filter state between
calls, so a stream cut into 20 ms frames resamples exactly as it would whole.
"""

import av
import numpy as np

from media.asr.transcriber import SAMPLE_RATE, Audio


class Resampler:
    """Streaming mono float32 resampler from ``rate`` to 16 kHz."""

    def __init__(self, rate: int = 48_000) -> None:
        self._rate = rate
        self._pts = 0
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def resample(self, pcm: Audio) -> Audio:
        """The 16 kHz samples ready after ``pcm`` (a few may lag until the next call)."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += len(pcm)
        return _join(self._resampler.resample(frame))

    def flush(self) -> Audio:
        """The samples still held in the filter at end of stream."""
        return _join(self._resampler.resample(None))


def read_16k(path: str) -> Audio:
    """Any audio file PyAV can decode, as 16 kHz mono float32."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out: list[Audio] = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            out.append(_join(resampler.resample(frame)))
        out.append(_join(resampler.resample(None)))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _join(frames: list[av.AudioFrame]) -> Audio:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)
