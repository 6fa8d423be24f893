"""Opus in and out of the mixer: one decoder per speaker, one encoder per room.

Both wrap libopus through PyAV and speak float32 mono PCM at 48 kHz in 20 ms
frames (960 samples), because the mixer sums in float32 and libopus decodes
and encodes float natively: no int16 round trip on the hot path.
"""

from typing import Final

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 48000
FRAME_SAMPLES: Final = 960  # 20 ms mono
FRAME_US: Final = 20_000

Pcm = npt.NDArray[np.float32]

# A packet whose only frame is empty: a TOC byte (config 31: CELT fullband, 20 ms,
# mono, one frame) and no payload. libopus treats a frame of 0 or 1 bytes as lost
# and runs its real packet-loss concealment in the mode of the previous packet,
# for as many samples as the TOC announces (20 ms). Decoding this is how we ask
# libopus for PLC through PyAV, which has no PLC call of its own.
_PLC_PACKET: Final = bytes([31 << 3])


def _unused_options(ctx: av.CodecContext) -> dict[str, str]:
    """Options FFmpeg did not consume on open: a misspelt one would otherwise pass silently."""
    return dict(ctx.options)


class OpusDecoder:
    """Decodes one speaker's Opus packets to float32 mono frames of 960 samples.

    Output is float32 in [-1, 1] (libopus's native float output, asked for with
    ``request_sample_fmt=flt``). Each returned array is the caller's to keep:
    it owns its decoded frame, which the decoder never writes again.
    ``frames`` counts decode and conceal calls, so callers and tests can see
    that silent speakers cost nothing.
    """

    def __init__(self) -> None:
        ctx = av.CodecContext.create("libopus", "r")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.options = {"request_sample_fmt": "flt"}
        ctx.open()
        if left := _unused_options(ctx):
            raise RuntimeError(f"libopus decoder ignored options {left}")
        self._ctx = ctx
        self.frames = 0

    def decode(self, payload: bytes) -> Pcm:
        """One RTP payload (one 20 ms Opus packet) to 960 float32 samples.

        Raises ``av.error.FFmpegError`` (an ``av.error.InvalidDataError``) for a
        corrupt packet; the mixer conceals instead. A packet of another duration
        is zero-padded or cut to 960 samples: senders must use 20 ms packets.
        """
        self.frames += 1
        return self._to_frame(self._ctx.decode(av.Packet(payload)))

    def conceal(self) -> Pcm:
        """libopus packet-loss concealment for one missing 20 ms packet.

        This is real PLC (the decoder extrapolates from its state and fades over
        successive losses), not a repeat or a fade of the previous frame: see
        ``_PLC_PACKET``.
        """
        self.frames += 1
        return self._to_frame(self._ctx.decode(av.Packet(_PLC_PACKET)))

    @staticmethod
    def _to_frame(frames: list[av.AudioFrame]) -> Pcm:
        if len(frames) == 1 and frames[0].samples == FRAME_SAMPLES:
            # The common case, without a copy: the array keeps the frame (and
            # FFmpeg's buffer) alive, and the decoder never writes to it again.
            return np.frombuffer(memoryview(frames[0].planes[0]), np.float32, FRAME_SAMPLES)
        out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        filled = 0
        for frame in frames:
            take = min(frame.samples, FRAME_SAMPLES - filled)
            if take <= 0:
                break
            plane = np.frombuffer(memoryview(frame.planes[0]), dtype=np.float32, count=take)
            out[filled : filled + take] = plane
            filled += take
        return out


class OpusEncoder:
    """Encodes float32 mono frames of 960 samples, one Opus packet per frame.

    64 kbit/s constrained VBR (the architecture's choice for the room mix),
    20 ms frames, 48 kHz mono. ``application="audio"`` by default because the
    mix is a broadcast of several voices at a bitrate where libopus's
    full-band mode beats its speech tuning; pass ``"voip"`` for a single voice.
    ``complexity`` is libopus's 0-10 (10, its default, runs the signal analysis
    pass; 6 and below skip it and encode about a fifth faster: see
    ``stoa bench mixer``).

    libopus keeps a 6.5 ms lookahead (312 samples, the Ogg pre-skip) inside the
    encoder but never holds a frame back: every ``encode`` returns the packet
    for that frame, so the output stream has the same packet count and timing
    as the input and decoded audio lags the input by 312 samples.
    """

    def __init__(
        self, bitrate: int = 64000, application: str = "audio", complexity: int = 10
    ) -> None:
        ctx = av.CodecContext.create("libopus", "w")
        ctx.bit_rate = bitrate
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = "flt"
        ctx.options = {
            "application": application,
            "frame_duration": "20",
            "vbr": "constrained",
            "compression_level": str(complexity),
        }
        ctx.open()
        if left := _unused_options(ctx):
            raise RuntimeError(f"libopus encoder ignored options {left}")
        self._ctx = ctx
        # One frame reused for every encode: libopus copies the samples out
        # before encode() returns, so refilling the same buffer is safe.
        self._frame = av.AudioFrame(format="flt", layout="mono", samples=FRAME_SAMPLES)
        self._frame.sample_rate = SAMPLE_RATE
        self._samples = np.frombuffer(
            memoryview(self._frame.planes[0]), dtype=np.float32, count=FRAME_SAMPLES
        )
        self._pts = 0

    def encode(self, pcm: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> bytes:
        """960 samples (float32 in [-1, 1], or int16) to exactly one Opus packet."""
        if pcm.shape != (FRAME_SAMPLES,):
            raise ValueError(f"expected {FRAME_SAMPLES} mono samples, got shape {pcm.shape}")
        if pcm.dtype == np.int16:
            np.multiply(pcm, 1.0 / 32768.0, out=self._samples, casting="unsafe")
        else:
            self._samples[:] = pcm
        self._frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        packets = self._ctx.encode(self._frame)
        if len(packets) != 1:
            raise RuntimeError(f"libopus returned {len(packets)} packets for one 20 ms frame")
        return bytes(packets[0])
