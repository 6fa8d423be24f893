"""A room's server-side mix: every speaker's Opus in, one Opus packet per 20 ms out.

Encode once: the room's mixed stream is encoded here exactly once, and every
listener (``media.listeners``) is handed these same packets.

Per tick the cost is one decode per speaker who has audio due and one encode;
speakers who are silent (DTX), absent, not yet started or muted cost nothing.

Mix-minus: a speaker who also listens must not hear their own voice come back
(a slap-back echo some 40 ms late, and feedback on open speakers). For each
listening speaker who has talked within the last half second, the mixer also
encodes the mix without them, on that speaker's own encoder; a listening
speaker who is quiet gets the room's mix, which is then the same audio. So the
price is one more encode per *talking* listener, as in conference bridges that
give talkers their own mix; the switch between the two streams at the start
and end of a turn costs one frame of codec transition, under the speaker's own
voice. Measured in ``stoa bench mixer``.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np

from media.jitter import LOST, JitterBuffer
from media.limiter import Limiter, dbfs
from media.opus import FRAME_SAMPLES, OpusDecoder, OpusEncoder
from media.wrap import MOD32, unwrap


@dataclass(frozen=True)
class MixedFrame:
    """One 20 ms frame of the room's mix, encoded.

    ``seq`` counts ticks from ``first_seq``, +1 per frame, unbounded (RTP senders take
    it modulo 2**16; the RTP timestamp is ``seq * 960`` modulo 2**32).

    ``capture_us`` is when this audio was captured, on the clock of the
    ``capture_us`` given to ``push``: the latest capture time among the frames
    mixed; on a tick where nobody spoke, the clock minus the capture-to-mix
    delay seen at the last tick with speech (0 before anyone spoke), so it
    stays on the same footing. It can step back when that delay grows, e.g.
    when the first speaker starts.

    ``levels`` holds the dBFS (``media.limiter.dbfs``) of each speaker who
    produced audio this frame (decoded or concealed), before mixing; feed it
    to ``media.activity.ActivityTracker``.

    ``minus`` holds, for each listening speaker who is talking (or was within
    ``MINUS_HANG_TICKS``), the packet of the mix without them (same ``seq`` and
    ``capture_us``); every other listener, quiet speakers included, gets
    ``packet``.
    """

    seq: int
    capture_us: int
    packet: bytes
    levels: dict[str, float]
    minus: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _Speaker:
    jitter: JitterBuffer
    decoder: OpusDecoder = field(default_factory=OpusDecoder)
    muted: bool = False
    first_ts: int | None = None
    last_ts: int = 0

    def position(self, rtp_timestamp: int) -> int:
        """The packet's time in 48 kHz samples since this speaker's first packet (unwrapped)."""
        if self.first_ts is None:
            self.first_ts = self.last_ts = rtp_timestamp
        self.last_ts = unwrap(rtp_timestamp, self.last_ts, MOD32)
        return self.last_ts - self.first_ts


MINUS_HANG_TICKS = 25
"""A talker keeps their own feed this many ticks (0.5 s) after their last sound."""


@dataclass
class _Minus:
    """A listening speaker's own feed: its encoder and limiter keep state across ticks."""

    encoder: OpusEncoder
    limiter: Limiter = field(default_factory=Limiter)
    quiet_ticks: int = MINUS_HANG_TICKS


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


class RoomMixer:
    """Mixes one room. Not thread-safe: never call two of its methods at once.

    ``tick`` is driven by the caller's 20 ms clock; ``push`` may be called any
    number of times between ticks, in any order, as packets arrive. PyAV
    releases the GIL inside libopus, so ``tick`` may run in a worker thread
    (``asyncio.to_thread``) provided no ``push`` for this room runs meanwhile.
    ``clock_us`` must read the same clock as the ``capture_us`` given to
    ``push`` (by default wall-clock microseconds since the Unix epoch).
    """

    def __init__(
        self,
        bitrate: int = 64000,
        jitter_frames: int = 3,
        *,
        clock_us: Callable[[], int] = _wall_clock_us,
        first_seq: int = 0,
    ) -> None:
        self._jitter_frames = jitter_frames
        self._bitrate = bitrate
        self._encoder = OpusEncoder(bitrate)
        self._minus: dict[str, _Minus] = {}
        self._limiter = Limiter()
        self._speakers: dict[str, _Speaker] = {}
        self._mix = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._seq = first_seq
        self._clock_us = clock_us
        self._delay_us = 0  # clock minus capture time at the last tick with speech

    def add_speaker(self, speaker_id: str, *, muted: bool = False) -> None:
        """Start mixing a speaker. Adding one already present changes nothing."""
        if speaker_id not in self._speakers:
            self._speakers[speaker_id] = _Speaker(JitterBuffer(self._jitter_frames), muted=muted)

    def remove_speaker(self, speaker_id: str) -> None:
        """Stop mixing a speaker and drop their buffered audio. Unknown ids are ignored."""
        self._speakers.pop(speaker_id, None)
        self._minus.pop(speaker_id, None)

    def set_listening(self, speaker_id: str, listening: bool) -> None:
        """Give a speaker who listens the mix without their own voice (``MixedFrame.minus``).

        Raises ``KeyError`` for an unknown speaker. A stream started anew
        begins on a fresh encoder, as any new Opus stream does.
        """
        if speaker_id not in self._speakers:
            raise KeyError(speaker_id)
        if not listening:
            self._minus.pop(speaker_id, None)
        elif speaker_id not in self._minus:
            self._minus[speaker_id] = _Minus(OpusEncoder(self._bitrate))

    def listening(self) -> tuple[str, ...]:
        """Speakers who get a mix-minus stream while they talk."""
        return tuple(self._minus)

    def set_muted(self, speaker_id: str, muted: bool) -> None:
        """Mute or unmute from the next tick on. Raises ``KeyError`` for an unknown speaker.

        Muting drops what is buffered and every packet pushed while muted.
        Unmuting starts a fresh decoder, so the first frames after unmute are not
        decoded against stale state; the speaker is heard again once their
        jitter buffer has primed (``jitter_frames`` frames).
        """
        speaker = self._speakers[speaker_id]
        if muted == speaker.muted:
            return
        speaker.muted = muted
        speaker.jitter.reset()
        if not muted:
            speaker.decoder = OpusDecoder()

    def push(
        self, speaker_id: str, seq: int, timestamp: int, payload: bytes, capture_us: int
    ) -> int | None:
        """Buffer one RTP packet of a speaker's Opus track.

        Returns the packet's time in samples since the speaker's first packet,
        for whoever forwards it as it is (client-side mixing), or ``None`` when
        it was dropped: packets of muted or unknown speakers (e.g. a straggler
        after ``remove_speaker``) go nowhere.
        """
        speaker = self._speakers.get(speaker_id)
        if speaker is None or speaker.muted:
            return None
        speaker.jitter.push(seq, timestamp, payload, capture_us)
        return speaker.position(timestamp)

    def skip(self) -> None:
        """A tick with nobody on stage: no frame, but the seq moves on with the room's clock,
        so a seq always says when in the room it was heard (the recording's timeline, where
        chapters and speaker turns are placed by time, relies on it)."""
        self._seq += 1

    def tick(self) -> MixedFrame:
        """Mix and encode the next 20 ms: call exactly once per 20 ms of the caller's clock."""
        mix = self._mix
        mix.fill(0.0)
        levels: dict[str, float] = {}
        voices: dict[str, np.ndarray] = {}
        latest_capture: int | None = None
        for speaker_id, speaker in self._speakers.items():
            if speaker.muted:
                continue
            due = speaker.jitter.pop()
            if due is None:
                continue
            if due is LOST:
                pcm = speaker.decoder.conceal()
            else:
                try:
                    pcm = speaker.decoder.decode(due)
                except av.error.FFmpegError:
                    pcm = speaker.decoder.conceal()  # a corrupt packet is a lost one
                capture = speaker.jitter.last_capture_us
                if capture is not None and (latest_capture is None or capture > latest_capture):
                    latest_capture = capture
            mix += pcm
            levels[speaker_id] = dbfs(pcm)
            if speaker_id in self._minus:
                voices[speaker_id] = pcm
        minus: dict[str, bytes] = {}
        for speaker_id, own in self._minus.items():
            voice = voices.get(speaker_id)
            own.quiet_ticks = 0 if voice is not None else own.quiet_ticks + 1
            if own.quiet_ticks < MINUS_HANG_TICKS:
                without = mix - voice if voice is not None else mix
                minus[speaker_id] = own.encoder.encode(own.limiter.process(without))
        packet = self._encoder.encode(self._limiter.process(mix))
        now = self._clock_us()
        if latest_capture is not None:
            self._delay_us = now - latest_capture
            capture_us = latest_capture
        else:
            capture_us = now - self._delay_us
        frame = MixedFrame(self._seq, capture_us, packet, levels, minus)
        self._seq += 1
        return frame

    def has_speaker(self, speaker_id: str) -> bool:
        return speaker_id in self._speakers

    def is_muted(self, speaker_id: str) -> bool:
        speaker = self._speakers.get(speaker_id)
        return speaker is not None and speaker.muted

    def speaker_ids(self) -> tuple[str, ...]:
        """Speakers being mixed, in the order they were added."""
        return tuple(self._speakers)

    def decoded_frames(self, speaker_id: str) -> int:
        """Decodes plus concealments run for a speaker since their decoder was made."""
        return self._speakers[speaker_id].decoder.frames
