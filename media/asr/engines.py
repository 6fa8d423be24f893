"""Pick the speech-to-text engine from settings: one model per worker, one transcriber per room.

``STOA_ASR_ENGINE`` chooses ``whisper`` (default; ``STOA_WHISPER_MODEL`` or
the packaged tiny.en) or ``vosk`` (``STOA_VOSK_MODEL`` is then required).
The model loads once, when the engine is made; ``Engine.open()`` is cheap and
gives a room its own streaming state.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.settings import Settings
from media.asr.transcriber import Transcriber


@dataclass(frozen=True)
class Engine:
    """A loaded model and how to start a room's transcriber on it."""

    name: str
    model_path: Path
    model: Any
    open: Callable[[], Transcriber]
    warm_up: Callable[[], None] = lambda: None
    """Run the model once, so the first room's first caption does not pay for lazy setup."""


def load_engine(
    engine: str = "whisper",
    whisper_model: Path | None = None,
    vosk_model: Path | None = None,
    threads: int = 1,
) -> Engine:
    """Load ``engine``'s model from a local directory; fails fast if it is missing."""
    if engine == "whisper":
        from media.asr import whisper

        path = whisper_model or whisper.packaged_model()
        model = whisper.load_model(path, threads=threads)
        return Engine(
            "whisper",
            path,
            model,
            lambda: whisper.WhisperTranscriber(model),
            lambda: whisper.warm_up(model),
        )
    if engine == "vosk":
        from media.asr import vosk

        if vosk_model is None:
            raise ValueError("STOA_ASR_ENGINE=vosk needs STOA_VOSK_MODEL (a model directory)")
        model = vosk.load_model(vosk_model)
        return Engine("vosk", vosk_model, model, lambda: vosk.VoskTranscriber(model))
    raise ValueError(f"unknown ASR engine {engine!r}: choose whisper or vosk")


def engine_from_settings(settings: Settings) -> Engine:
    """The engine ``STOA_ASR_ENGINE`` / ``STOA_WHISPER_MODEL`` / ``STOA_VOSK_MODEL`` name."""
    return load_engine(
        settings.asr_engine, settings.whisper_model, settings.vosk_model, settings.asr_threads
    )
