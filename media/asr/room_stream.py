"""One room's speech-to-text on a worker: Opus records in, captions on the room's clock out.

``take`` decodes a record of ``stoa.room-audio`` (Opus, 48 kHz) and resamples it to
the 16 kHz the engines want, holding it until ``transcribe`` runs the room's
``Transcriber`` over everything held (on the worker's engine thread). Results
come back as ``Caption`` messages whose times are seconds from the room's start
(seq * 20 ms), attributed to a speaker from the talking turns that travel with
the audio.

The stream's own clock is samples fed since ``origin`` (a frame seq). A hole in
the seqs (a speaker's network, the broker dropping a record) of up to
``FILL_SECONDS`` is fed as silence, so the clock stays true; a longer one (the
stage was empty, or the worker skipped audio to catch up) ends the stream: what
it holds is finalised and a new one starts at the new seq.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from media.asr.attribution import FRAME_SECONDS, Turns
from media.asr.resample import Resampler
from media.asr.transcriber import SAMPLE_RATE, Audio, Partial, Result, Segment, Transcriber
from media.listen import OpusRecord
from media.opus import OpusDecoder
from schemas.captions import Caption

FILL_SECONDS = 3.0
FRAME_16K = SAMPLE_RATE // 50


@dataclass(frozen=True)
class Final:
    """A final caption and the segment's confidence (mean word probability)."""

    caption: Caption
    confidence: float | None


class RoomStream:
    """The decoder, resampler, transcriber and turns of one room on this worker."""

    def __init__(self, room_id: str, open_transcriber: Callable[[], Transcriber]) -> None:
        self.room_id = room_id
        self._open = open_transcriber
        self.turns = Turns()
        self._decoder = OpusDecoder()
        self._resampler = Resampler()
        self._transcriber = open_transcriber()
        self._held: list[Audio] = []
        self.origin: int | None = None
        """Seq of the stream's first sample (None until audio arrives)."""
        self.next_seq: int | None = None
        self._fed_samples = 0
        self._last_final_end = 0.0
        self.undecodable = 0

    @property
    def held_seconds(self) -> float:
        """Audio taken but not yet transcribed: how far behind this room's captions are."""
        return sum(len(a) for a in self._held) / SAMPLE_RATE

    def take(self, records: list[OpusRecord], talking: list[tuple[int, list[str]]]) -> int | None:
        """Hold one record's frames. Returns None, or the seq of a hole too long to fill:
        the stream ends there (``finish`` it, ``restart`` at that seq, ``take`` again)."""
        for seq, users in talking:
            self.turns.add(seq, users)
        for record in records:
            seq = record.seq
            if self.next_seq is not None and seq < self.next_seq:
                continue  # delivered again (a rebalance): already heard
            if self.next_seq is not None and seq > self.next_seq:
                missing = seq - self.next_seq
                if missing * FRAME_SECONDS > FILL_SECONDS:
                    return seq
                self._held.append(np.zeros(missing * FRAME_16K, dtype=np.float32))
            if self.origin is None:
                self.origin = seq
            try:
                pcm = self._decoder.decode(record.payload)
            except Exception:  # one corrupt packet: conceal it, the clock goes on
                self.undecodable += 1
                pcm = self._decoder.conceal()
            self._held.append(self._resampler.resample(pcm))
            self.next_seq = seq + 1
        return None

    def restart(self, at_seq: int | None = None) -> None:
        """A new stream (after a long hole, a skip or an engine failure) from ``at_seq``."""
        self._decoder = OpusDecoder()
        self._resampler = Resampler()
        self._transcriber = self._open()
        self._held = []
        self.origin = at_seq
        self.next_seq = at_seq
        self._fed_samples = 0

    def drop_held(self, keep_seconds: float) -> float:
        """Forget all but the newest ``keep_seconds`` held (the worker is behind); returns
        how many seconds were skipped. The stream restarts where what is kept begins."""
        held = np.concatenate(self._held) if self._held else np.zeros(0, dtype=np.float32)
        keep = round(keep_seconds * SAMPLE_RATE)
        skipped = max(len(held) - keep, 0)
        if skipped == 0 or self.next_seq is None:
            return 0.0
        kept = held[skipped:]
        next_seq = self.next_seq
        self.restart(next_seq - -(-len(kept) // FRAME_16K))  # where what is kept begins
        self.next_seq = next_seq
        self._held = [kept]
        return skipped / SAMPLE_RATE

    def transcribe(self) -> tuple[list[Caption], list[Final]]:
        """Feed everything held; the partials and finals it produced, on the room clock."""
        if not self._held:
            return [], []
        audio = np.concatenate(self._held)
        self._held = []
        results = self._transcriber.feed(audio)
        self._fed_samples += len(audio)
        return self._captions(results)

    def finish(self) -> list[Final]:
        """End of stream: everything pending becomes final."""
        _, finals = self.transcribe()
        segments: list[Result] = list(self._transcriber.flush())
        _, more = self._captions(segments)
        return [*finals, *more]

    def _seconds(self, stream_seconds: float) -> float:
        return max(0.0, (self.origin or 0) * FRAME_SECONDS + stream_seconds)

    def _captions(self, results: list[Result]) -> tuple[list[Caption], list[Final]]:
        partials: list[Caption] = []
        finals: list[Final] = []
        for result in results:
            if isinstance(result, Partial):
                start = max(self._last_final_end, self._seconds(0.0))
                end = self._seconds(self._fed_samples / SAMPLE_RATE)
                partials.append(
                    Caption(
                        text=result.text,
                        final=False,
                        start=start,
                        end=max(end, start),
                        speaker_id=self.turns.speaker(start, end),
                    )
                )
            elif isinstance(result, Segment) and result.text.strip():
                finals.append(self._final(result))
        return partials, finals

    def _final(self, segment: Segment) -> Final:
        start, end = self._seconds(segment.start), self._seconds(segment.end)
        self._last_final_end = max(self._last_final_end, end)
        probs = [w.prob for w in segment.words]
        caption = Caption(
            text=segment.text.strip(),
            final=True,
            start=start,
            end=max(end, start),
            speaker_id=self.turns.speaker(start, end),
            segment_id=uuid.uuid4(),
        )
        return Final(caption, sum(probs) / len(probs) if probs else None)
