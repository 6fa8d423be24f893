"""The speaker tap: Opus payloads straight from RTP, silence dropped as a pause, not a loss."""

import asyncio
from types import SimpleNamespace

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from media.tracks import SILENT_DBOV, PacketTrack, opus_packet, tap

OPUS_PT = 111


def packet(seq: int, level: int | None, payload: bytes = b"\x78\x01\x02") -> RtpPacket:
    p = RtpPacket(payload_type=OPUS_PT, sequence_number=seq, timestamp=seq * 960)
    p.payload = payload
    if level is not None:
        p.extensions.audio_level = (True, level)
    return p


def tapped() -> tuple[list[tuple[int, int, bytes]], RTCRtpReceiver]:
    got: list[tuple[int, int, bytes]] = []
    receiver = RTCRtpReceiver("audio", SimpleNamespace(state="new"))  # type: ignore[arg-type]
    opus = tap(receiver, lambda seq, ts, payload, arrival: got.append((seq, ts, payload)))
    opus.opus_types = frozenset({OPUS_PT})
    return got, receiver


async def feed(receiver: RTCRtpReceiver, packets: list[RtpPacket]) -> None:
    """Through aiortc's own entry point for received RTP (what its transport calls)."""
    for p in packets:
        await receiver._handle_rtp_packet(p, arrival_time_ms=0)


async def test_a_stopped_tap_forwards_nothing_more() -> None:
    got: list[int] = []
    receiver = RTCRtpReceiver("audio", SimpleNamespace(state="new"))  # type: ignore[arg-type]
    opus = tap(receiver, lambda seq, ts, payload, arrival: got.append(seq))
    opus.opus_types = frozenset({OPUS_PT})
    await feed(receiver, [packet(1, 30)])
    opus.stop()
    await feed(receiver, [packet(2, 30)])
    assert got == [1] and opus.packets == 1


async def test_payloads_reach_the_sink_unchanged_and_other_payload_types_do_not() -> None:
    got, receiver = tapped()
    other = packet(1, None)
    other.payload_type = 0
    await feed(receiver, [packet(0, 30, b"abc"), other, packet(2, None, b"def")])
    assert got == [(0, 0, b"abc"), (2, 1920, b"def")]


async def test_silent_packets_are_dropped_and_later_ones_renumbered_as_a_pause() -> None:
    got, receiver = tapped()
    levels = [40, 45, SILENT_DBOV, 127, 104, 50, 50]
    await feed(receiver, [packet(65533 + i, level) for i, level in enumerate(levels)])
    # Sequence numbers stay contiguous (across the wrap) while the timestamp jumps by
    # the silence: what a DTX pause looks like (RFC 7587), so the jitter buffer skips
    # the speaker instead of concealing three "lost" packets.
    assert [seq for seq, _, _ in got] == [65533, 65534, 65535, 0]
    assert [ts for _, ts, _ in got][2] - [ts for _, ts, _ in got][1] == 4 * 960


async def test_a_packet_track_hands_out_packets_and_drops_the_oldest_when_full() -> None:
    track = PacketTrack(depth=2)
    for pts in (0, 960, 1920):
        track.push(opus_packet(b"x", pts))
    assert track.dropped == 1
    assert [(await track.recv()).pts for _ in range(2)] == [960, 1920]
    track.stop()
    await asyncio.sleep(0)
    assert track.readyState == "ended"
