"""A finished recording's files, made with PyAV: chunks → Ogg Opus (web) and AAC ``.m4a`` (podcast).

* **The web file** is the room's own Opus packets in Ogg (RFC 7845), remuxed,
  never decoded or re-encoded: the room was encoded once, and a second lossy
  pass would only cost quality and CPU. Packet ``seq`` plays at
  ``seq · 20 ms``: its timestamp is ``seq · 960`` at 48 kHz (minus the
  stream's pre-skip, as FFmpeg's own Opus encoder stamps packets, so the Ogg
  granule positions come out as the specification counts them), and every
  seq no chunk holds is the silent frame (``media.recording.assemble``). So
  an offset into the file is an offset into the room. Ogg pages are about
  one second, which is what a player's byte-range seek bisects on.
* **The podcast file** is AAC-LC (~64 kbps, mono, 48 kHz) in MP4 with the
  ``moov`` box first (``movflags=+faststart``): what podcast apps expect and
  what starts playing before the whole file has arrived. It is decoded from
  the web file (one source of truth for both) and padded at the end by the
  Opus pre-skip, so its duration is the room's to the sample.
* **Clips** (``cut_clip``) are a packet-exact slice of the web file, again
  without re-encoding.

Everything here is synchronous and CPU-bound; the recorder runs it in a
thread so a finalization never stalls the event loop that feeds live rooms.
"""

import contextlib
import io
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

import av
import numpy as np

from infra.objects import ObjectStoreClient
from media.opus import FRAME_SAMPLES, SAMPLE_RATE
from media.recording import ChunkError, Timeline, assemble, decode_chunk
from schemas.recording import prefix

TIME_BASE: Final = Fraction(1, SAMPLE_RATE)
PODCAST_BITRATE: Final = 64_000
AAC_FRAME: Final = 1024
OGG_OPTIONS: Final = {"fflags": "+bitexact"}
"""Bit-exact: the same packets make the same bytes (a stable serial number, no version
string), so finalizing again after a crash writes identical files."""


@dataclass(frozen=True)
class Finished:
    """Both files of a recording and the timeline they were made from."""

    timeline: Timeline
    web: bytes
    podcast: bytes
    unreadable: tuple[int, ...] = field(default=())
    """Chunks that could not be read (counted as missing, never a reason to give up)."""


def finalize(chunks: Mapping[int, bytes]) -> Finished | None:
    """Both files from the stored chunks (by index); None if no chunk holds a frame."""
    decoded, unreadable = [], []
    for index, data in sorted(chunks.items()):
        try:
            decoded.append(decode_chunk(data, index))
        except ChunkError:
            unreadable.append(index)
    timeline = assemble(decoded)
    if timeline.frames == 0:
        return None
    web = web_file(timeline)
    return Finished(timeline, web, podcast_file(web, timeline.frames), tuple(unreadable))


# --- the web file -----------------------------------------------------------


def web_file(timeline: Timeline) -> bytes:
    """The timeline's packets (silence in the holes) as Ogg Opus, seq ``n`` at ``n · 20 ms``."""
    return _ogg(timeline.payloads(), None)


def _ogg(payloads: Iterable[bytes], template: av.audio.stream.AudioStream | None) -> bytes:
    """Ogg Opus of 20 ms packets from time 0; the stream header is ``template``'s, or libopus's.

    A stream added for muxing alone has no ``OpusHead`` in PyAV, so without a
    template the stream is added with a libopus encoder context, which is
    opened to produce that header (mono, 48 kHz, pre-skip 312: the room
    mixer's encoder settings) and never fed a frame, as in ``media.fmp4``.
    """
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg", options=OGG_OPTIONS) as container:
        if template is not None:
            stream = container.add_stream_from_template(template)
        else:
            stream = container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        stream.time_base = TIME_BASE
        container.start_encoding()
        skip = pre_skip(bytes(stream.codec_context.extradata or b""))
        for n, payload in enumerate(payloads):
            packet = av.Packet(payload)
            packet.stream = stream
            packet.pts = packet.dts = n * FRAME_SAMPLES - skip
            packet.duration = FRAME_SAMPLES
            packet.time_base = TIME_BASE
            container.mux_one(packet)
    return buffer.getvalue()


def pre_skip(opus_head: bytes) -> int:
    """Samples a decoder drops at the start (RFC 7845 ``OpusHead``, bytes 10-11, little-endian)."""
    if len(opus_head) < 19 or not opus_head.startswith(b"OpusHead"):
        raise ValueError("not an OpusHead")
    return int.from_bytes(opus_head[10:12], "little")


# --- the podcast file -------------------------------------------------------


def podcast_file(web: bytes, frames: int) -> bytes:
    """The web file decoded and encoded once as AAC in a fast-start ``.m4a`` of ``frames · 20 ms``.

    FFmpeg's MP4 muxer moves ``moov`` to the front by reading the file back
    (``faststart``), which needs a real file: the work goes through a
    temporary one.
    """
    handle, path = tempfile.mkstemp(suffix=".m4a", prefix="stoa-podcast-")
    os.close(handle)
    try:
        _encode_aac(web, frames * FRAME_SAMPLES, path)
        with open(path, "rb") as done:
            return done.read()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _encode_aac(web: bytes, total_samples: int, path: str) -> None:
    fifo = av.AudioFifo()
    written = 0
    with (
        av.open(io.BytesIO(web), "r") as source,
        av.open(path, "w", format="ipod", options={"movflags": "+faststart"}) as out,
    ):
        stream = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = PODCAST_BITRATE

        def encode(frame: av.AudioFrame | None) -> None:
            for packet in stream.encode(frame):
                out.mux(packet)

        for frame in source.decode(audio=0):  # pre-skip already dropped by the decoder
            frame.pts = None
            fifo.write(frame)
            written += frame.samples
            while fifo.samples >= AAC_FRAME:
                encode(fifo.read(AAC_FRAME))
        padding = total_samples - written  # the pre-skip: end on the room's last sample
        if padding > 0:
            fifo.write(_silence(padding))
        while fifo.samples > 0:
            encode(fifo.read(min(AAC_FRAME, fifo.samples)))
        encode(None)


def _silence(samples: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.zeros((1, samples), dtype=np.float32), format="fltp", layout="mono"
    )
    frame.sample_rate = SAMPLE_RATE
    return frame


# --- clips ------------------------------------------------------------------


def cut_clip(web_file: bytes, start_seconds: float, end_seconds: float) -> bytes:
    """The web file's packets that start in ``[start, end)``, as a new Ogg Opus file from time 0.

    Packet-exact and never re-encoded: packet ``n`` starts at ``n · 20 ms``, so
    the clip holds packets ``ceil(start / 20 ms)`` to ``ceil(end / 20 ms) - 1``
    and its time ``t`` is the recording's ``first packet · 20 ms + t``. The clip
    keeps the recording's ``OpusHead``. Its first few milliseconds may sound
    slightly different from the same moment in the whole file (the decoder
    starts cold), as with any packet-exact cut of Opus.

    Raises ``ValueError`` for a range that holds no packet or a file that is
    not Ogg Opus.
    """
    if not (math.isfinite(start_seconds) and math.isfinite(end_seconds)):
        raise ValueError("clip bounds must be finite")
    if start_seconds < 0 or end_seconds <= start_seconds:
        raise ValueError(f"empty or reversed clip range [{start_seconds}, {end_seconds})")
    first = _packet_at(start_seconds)
    end = _packet_at(end_seconds)
    try:
        with av.open(io.BytesIO(web_file), "r") as source:
            audio = source.streams.audio
            if len(audio) != 1 or audio[0].codec_context.name != "opus":
                raise ValueError("not an Opus recording")
            stream = audio[0]
            skip = pre_skip(bytes(stream.codec_context.extradata or b""))
            kept: list[bytes] = []
            for packet in source.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                n = round((packet.pts + skip) / FRAME_SAMPLES)
                if first <= n < end:
                    kept.append(bytes(packet))
                elif n >= end:
                    break
            if not kept:
                raise ValueError(f"no audio in [{start_seconds}, {end_seconds})")
            return _ogg(kept, stream)
    except av.error.FFmpegError as exc:
        raise ValueError(f"not a readable Ogg Opus file: {exc}") from exc


def _packet_at(seconds: float) -> int:
    """The first 20 ms packet starting at or after ``seconds`` (robust to 0.1 + 0.2 floats)."""
    return math.ceil(round(seconds * SAMPLE_RATE / FRAME_SAMPLES, 6))


# --- deletion ---------------------------------------------------------------


async def delete_recording(store: ObjectStoreClient, recording_id: uuid.UUID) -> int:
    """Delete every object of the recording (chunks, files, clips, marker); returns how many."""
    keys = await store.keys(prefix(recording_id))
    await store.delete(keys)
    return len(keys)
