"""The room's Opus packets in fragmented MP4 (CMAF), remuxed by FFmpeg's mp4 muxer (PyAV).

No Opus is decoded or encoded here: packets go into the container as they
came from the mixer. FFmpeg writes every box; this module only reads the top
of what it wrote (box sizes and types, and the ``tfdt``/``trun`` of each
fragment) to hand the init segment and each fragment over separately.

Three muxer options make the output what HLS needs:

* ``movflags=cmaf+frag_discont+skip_trailer``: CMAF brands, an empty ``moov``
  written at once (the init segment), one ``moof``+``mdat`` per fragment with
  ``default-base-is-moof``, no ``mfra`` at the end; ``frag_discont`` with
  ``avoid_negative_ts=disabled`` and ``use_editlist=0`` keeps each fragment's
  decode time (``tfdt``) at the packet's own timestamp, ``seq * 960``, instead
  of shifting the stream to start at zero: a client maps HLS audio back to
  listen-protocol seqs by dividing by 960.
* ``frag_duration``: FFmpeg closes a fragment when a packet arrives that would
  make it longer than that (so a fragment is ready one packet, 20 ms, after
  its last frame), or at ``close``.

The MP4 Opus sample entry needs the stream's ``OpusHead`` (the ``dOps`` box).
A stream added with ``add_mux_stream`` has no way to set extradata in PyAV 18,
so the stream is added with a libopus encoder context, which is opened (to
produce the ``OpusHead``: mono, 48 kHz, pre-skip 312, the same as the room
mixer's encoder) and never fed a frame.
"""

import io
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

import av

from media.opus import FRAME_SAMPLES, SAMPLE_RATE

TIME_BASE: Final = Fraction(1, SAMPLE_RATE)
MOVFLAGS: Final = "cmaf+frag_discont+skip_trailer"


@dataclass(frozen=True)
class Fragment:
    """One ``moof``+``mdat``: ``frames`` packets from ``first_seq`` on."""

    first_seq: int
    frames: int
    data: bytes


class _Sink(io.RawIOBase):
    """Where FFmpeg writes: an append-only buffer the muxer drains after each call."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)


Box = tuple[bytes, int, int]
"""An ISO BMFF box as ``(type, offset, size)``."""


def boxes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> list[Box]:
    """The complete boxes in ``data[start:end]``, up to the first partial one."""
    end = len(data) if end is None else end
    found: list[Box] = []
    offset = start
    while end - offset >= 8:
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            if end - offset < 16:
                break
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        if size < 8 or offset + size > end:
            break
        found.append((kind, offset, size))
        offset += size
    return found


def _child(data: bytes, parent: Box, kind: bytes) -> Box:
    _, offset, size = parent
    for box in boxes(data, offset + 8, offset + size):
        if box[0] == kind:
            return box
    raise ValueError(f"no {kind.decode()} box in {parent[0].decode()}")


def fragment_timing(moof: bytes) -> tuple[int, int]:
    """``(tfdt base media decode time, trun sample count)`` of a one-track ``moof``."""
    traf = _child(moof, (b"moof", 0, len(moof)), b"traf")
    _, tfdt_at, _ = _child(moof, traf, b"tfdt")
    version = moof[tfdt_at + 8]
    decode_time = struct.unpack_from(">Q" if version == 1 else ">I", moof, tfdt_at + 12)[0]
    _, trun_at, _ = _child(moof, traf, b"trun")
    samples = struct.unpack_from(">I", moof, trun_at + 12)[0]
    return int(decode_time), int(samples)


class Fmp4Muxer:
    """One fMP4 stream of 20 ms Opus packets, fragmented every ``fragment_frames`` packets.

    The first packet muxed should start a fragment (its seq a multiple of
    ``fragment_frames``) and packets must come without holes: fragments are
    cut by duration, so their boundaries stay where the caller expects only
    if the timeline does.
    """

    def __init__(self, fragment_frames: int) -> None:
        self._sink = _Sink()
        self._container = av.open(
            self._sink,
            "w",
            format="mp4",
            options={
                "movflags": MOVFLAGS,
                "frag_duration": str(fragment_frames * FRAME_SAMPLES * 1_000_000 // SAMPLE_RATE),
                "avoid_negative_ts": "disabled",
                "use_editlist": "0",
            },
        )
        self._stream = self._container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        self._stream.time_base = TIME_BASE
        self._container.start_encoding()
        header = boxes(self._sink.buffer)
        if [kind for kind, _, _ in header] != [b"ftyp", b"moov"]:
            raise RuntimeError(f"the mp4 muxer wrote {header} instead of ftyp+moov")
        self.init = bytes(self._sink.buffer)
        """``ftyp``+``moov``: the HLS init segment (``EXT-X-MAP``), the same for every stream."""
        self._sink.buffer.clear()
        self._closed = False

    def mux(self, seq: int, payload: bytes) -> list[Fragment]:
        """Add one packet (decode time ``seq * 960``); returns the fragments it completed."""
        packet = av.Packet(payload)
        packet.stream = self._stream
        packet.pts = packet.dts = seq * FRAME_SAMPLES
        packet.duration = FRAME_SAMPLES
        packet.time_base = TIME_BASE
        self._container.mux_one(packet)
        return self._drain()

    def close(self) -> list[Fragment]:
        """Flush the last (possibly short) fragment."""
        if self._closed:
            return []
        self._closed = True
        self._container.close()
        return self._drain()

    def _drain(self) -> list[Fragment]:
        buffer = self._sink.buffer
        found = boxes(buffer)
        fragments: list[Fragment] = []
        used = 0
        for index, (kind, offset, size) in enumerate(found):
            if kind != b"moof":
                continue
            if index + 1 == len(found) or found[index + 1][0] != b"mdat":
                break  # its mdat is not written yet
            _, mdat_at, mdat_size = found[index + 1]
            decode_time, frames = fragment_timing(bytes(buffer[offset : offset + size]))
            used = mdat_at + mdat_size
            data = bytes(buffer[offset:used])
            fragments.append(Fragment(decode_time // FRAME_SAMPLES, frames, data))
        del buffer[:used]
        return fragments
