"""Streaming vosk (Kaldi): the recogniser streams by itself, so this is a thin adapter.

vosk decides utterance ends with its own endpointer; ``Result`` after an
accepted waveform and ``FinalResult`` at the end are finals, ``PartialResult``
in between is the caption in progress. Its word times already count from the
recogniser's first sample, which is the stream clock this interface promises.
Audio goes in as 16-bit little-endian PCM, in pieces of at most ``CHUNK`` so
an utterance end is noticed within that much audio.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from media.asr.transcriber import SAMPLE_RATE, Audio, Partial, Result, Segment, Word, segment_of

CHUNK = SAMPLE_RATE // 5  # 200 ms


def load_model(path: Path) -> Any:
    """A ``vosk.Model`` from a local model directory (vosk never downloads given a path)."""
    import vosk

    vosk.SetLogLevel(-1)
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path} is not a vosk model directory")
    return vosk.Model(str(path))


class VoskTranscriber:
    """One room's streaming vosk recogniser."""

    def __init__(self, model: Any) -> None:
        import vosk

        self._recognizer = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        self._recognizer.SetWords(True)
        self._shown = ""

    def feed(self, pcm: Audio) -> list[Result]:
        out: list[Result] = []
        samples = (np.clip(np.asarray(pcm, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
        for i in range(0, len(samples), CHUNK):
            if self._recognizer.AcceptWaveform(samples[i : i + CHUNK].tobytes()):
                out.extend(self._final(self._recognizer.Result()))
            else:
                text = json.loads(self._recognizer.PartialResult()).get("partial", "")
                if text and text != self._shown:
                    out.append(Partial(text))
                self._shown = text
        return out

    def flush(self) -> list[Segment]:
        return self._final(self._recognizer.FinalResult())

    def _final(self, result: str) -> list[Segment]:
        self._shown = ""
        words = [
            Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
            for w in json.loads(result).get("result", [])
        ]
        return [segment_of(words)] if words else []
