"""The HLS rendition of a room, from synthetic Opus packets (no stack): segments, parts, window.

The room's records go in as ``(seq, capture_us, packet)``; what comes out is
checked as a player and a CDN would see it: the playlist text, the fMP4 boxes
(``tfdt`` is ``seq * 960``), and FFmpeg decoding the stored files.
"""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from media.fmp4 import boxes, fragment_timing
from media.opus import OpusEncoder
from media.playlist import position, with_query
from media.segmenter import (
    INIT,
    PLAYLIST,
    RETIRE_FRAMES,
    SILENCE,
    WINDOW_SEGMENTS,
    Segmenter,
    Update,
)

T0 = 1_800_000_000_000_000
"""The capture clock (µs since the epoch) at seq 0: frame ``seq`` is captured 20 ms later each."""


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    """One second of 20 ms Opus packets of a 440 Hz tone, looped by ``feed``."""
    encoder = OpusEncoder()
    t = np.arange(50 * 960) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return [encoder.encode(tone[i * 960 : (i + 1) * 960]) for i in range(50)]


def feed(segmenter: Segmenter, packets: list[bytes], seqs: range | list[int]) -> Update:
    """Push ``seqs``; returns everything they changed, merged."""
    total = Update()
    for seq in seqs:
        total = total.merge(segmenter.push(seq, T0 + seq * 20_000, packets[seq % len(packets)]))
    return total


def listed(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def durations(playlist: str) -> list[float]:
    return [float(d) for d in re.findall(r"^#EXTINF:([0-9.]+),", playlist, re.M)]


def decode_times(data: bytes) -> list[tuple[int, int]]:
    """``(tfdt, samples)`` of every fragment of a segment or part."""
    return [
        fragment_timing(data[offset : offset + size])
        for kind, offset, size in boxes(data)
        if kind == b"moof"
    ]


def test_segments_are_one_second_made_of_five_200_ms_parts(packets: list[bytes]) -> None:
    update = feed(Segmenter(), packets, range(0, 251))
    objects = dict(update.objects)
    assert INIT in objects
    assert [name for name in listed(update.playlist or "")] == [f"{n}.m4s" for n in range(5)]
    assert durations(update.playlist or "") == [1.0] * 5
    assert "#EXT-X-TARGETDURATION:1\n" in (update.playlist or "")
    for n in range(5):
        parts = [objects[f"{n}.{i}.m4s"] for i in range(5)]
        assert objects[f"{n}.m4s"] == b"".join(parts)  # a segment is its parts end to end


def test_every_fragment_is_decoded_at_its_first_seq_times_960(packets: list[bytes]) -> None:
    """A client maps HLS audio to listen-protocol seqs: seq = tfdt / 960."""
    objects = dict(feed(Segmenter(), packets, range(1000, 1101)).objects)
    assert decode_times(objects["20.m4s"]) == [((1000 + 10 * i) * 960, 10) for i in range(5)]
    assert decode_times(objects["21.3.m4s"]) == [(1080 * 960, 10)]


def test_a_segmenter_starting_mid_stream_waits_for_a_part_boundary(packets: list[bytes]) -> None:
    segmenter = Segmenter()
    assert not feed(segmenter, packets, range(1003, 1010))
    update = feed(segmenter, packets, range(1010, 1101))
    assert listed(update.playlist or "") == ["20.m4s", "21.m4s"]
    assert durations(update.playlist or "") == [0.8, 1.0]  # the first one starts at part 1
    assert "20.0.m4s" not in dict(update.objects)


def test_the_playlist_dates_each_segment_from_its_first_frames_capture(
    packets: list[bytes],
) -> None:
    playlist = feed(Segmenter(), packets, range(0, 101)).playlist or ""
    dates = re.findall(r"^#EXT-X-PROGRAM-DATE-TIME:(.+)$", playlist, re.M)
    assert dates[:2] == ["2027-01-15T08:00:00.000Z", "2027-01-15T08:00:01.000Z"]


def test_the_window_keeps_six_segments_and_deletes_the_rest_later(packets: list[bytes]) -> None:
    segmenter = Segmenter()
    stored: set[str] = set()
    for seq in range(0, 1501):
        update = segmenter.push(seq, T0 + seq * 20_000, packets[seq % 50])
        stored |= {name for name, _ in update.objects}
        if update.playlist is not None:
            listed_now = set(listed(update.playlist))
            parts = set(re.findall(r'URI="([^"]+)"', update.playlist))
            assert not (listed_now | parts) & set(update.deletes), "deleted while listed"
        for name in update.deletes:
            assert name in stored, f"{name} deleted twice or never stored"
            stored.discard(name)
    playlist = update.playlist or ""
    assert listed(playlist) == [f"{n}.m4s" for n in range(24, 30)]
    assert f"#EXT-X-MEDIA-SEQUENCE:{30 - WINDOW_SEGMENTS}" in playlist
    segments_kept = sorted(int(n.split(".")[0]) for n in stored if re.fullmatch(r"\d+\.m4s", n))
    # what left the playlist stays RETIRE_FRAMES (6 s) for players that read an older copy
    assert segments_kept == list(range(30 - WINDOW_SEGMENTS - RETIRE_FRAMES // 50, 30))
    # parts are listed (and kept) for the last three segments and the one being written
    assert re.findall(r'URI="(\d+)\.0\.m4s"', playlist) == ["27", "28", "29", "30"]


def test_a_lost_stretch_is_filled_with_silence_and_keeps_the_timeline(
    packets: list[bytes],
) -> None:
    segmenter = Segmenter()
    update = feed(segmenter, packets, [*range(0, 60), *range(75, 151)])
    objects = dict(update.objects)
    assert durations(update.playlist or "") == [1.0, 1.0, 1.0]
    assert decode_times(objects["1.m4s"]) == [((50 + 10 * i) * 960, 10) for i in range(5)]
    assert objects["1.1.m4s"].count(SILENCE) >= 10


def test_a_hole_longer_than_the_window_restarts_it(packets: list[bytes]) -> None:
    segmenter = Segmenter()
    feed(segmenter, packets, range(0, 201))
    update = feed(segmenter, packets, range(1000, 1101))
    playlist = update.playlist or ""
    assert listed(playlist) == ["20.m4s", "21.m4s"]
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in playlist
    assert "#EXT-X-MEDIA-SEQUENCE:20\n" in playlist
    later = feed(segmenter, packets, range(1101, 1000 + RETIRE_FRAMES + 1))
    assert {"0.m4s", "3.m4s"} <= set(update.deletes + later.deletes)


def test_a_room_ending_while_the_stream_restarts_still_closes_the_playlist(
    packets: list[bytes],
) -> None:
    segmenter = Segmenter()
    feed(segmenter, packets, range(0, 201))
    assert not feed(segmenter, packets, [1003]).playlist  # waits for a part boundary
    playlist = segmenter.end().playlist or ""
    assert listed(playlist)[-1] == "4.m4s" and playlist.endswith("#EXT-X-ENDLIST\n")


def test_the_rooms_end_closes_the_playlist_after_a_short_last_segment(
    packets: list[bytes],
) -> None:
    segmenter = Segmenter()
    feed(segmenter, packets, range(0, 120))
    update = segmenter.end()
    playlist = update.playlist or ""
    assert playlist.endswith("#EXT-X-ENDLIST\n")
    assert durations(playlist) == [1.0, 1.0, 0.4]
    assert "PRELOAD-HINT" not in playlist
    assert decode_times(dict(update.objects)["2.m4s"]) == [(100 * 960, 10), (110 * 960, 10)]
    assert not segmenter.push(120, T0, packets[0])  # nothing after the end


def test_a_room_without_audio_writes_nothing(packets: list[bytes]) -> None:
    segmenter = Segmenter()
    assert not segmenter.tier("direct", T0)
    assert not segmenter.end()


def test_the_delivery_tier_is_a_dated_range_players_ignore(packets: list[bytes]) -> None:
    segmenter = Segmenter()
    segmenter.tier("direct", T0)
    feed(segmenter, packets, range(0, 101))
    playlist = segmenter.tier("hls", T0 + 2_000_000).playlist or ""
    ranges = re.findall(r"^#EXT-X-DATERANGE:(.+)$", playlist, re.M)
    assert [re.search(r'X-TIER="(\w+)"', r).group(1) for r in ranges] == ["direct", "hls"]  # type: ignore[union-attr]
    assert all('CLASS="dev.stoa.tier"' in r and "END-ON-NEXT=YES" in r for r in ranges)
    assert 'START-DATE="2027-01-15T08:00:02.000Z"' in ranges[1]
    # once the window has moved past a change, only the tier in force at its start remains
    update = feed(segmenter, packets, range(101, 600))
    ranges = re.findall(r"^#EXT-X-DATERANGE:(.+)$", update.playlist or "", re.M)
    assert len(ranges) == 1 and 'X-TIER="hls"' in ranges[0]


def test_ffmpeg_decodes_the_stored_rendition(packets: list[bytes], tmp_path: Path) -> None:
    """An independent reader: FFmpeg plays the files as they would be stored."""
    segmenter = Segmenter()
    update = feed(segmenter, packets, range(500, 800)).merge(segmenter.end())
    for name, data in update.objects:
        (tmp_path / name).write_bytes(data)
    for name in update.deletes:
        (tmp_path / name).unlink(missing_ok=True)
    (tmp_path / PLAYLIST).write_text(update.playlist or "")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
         str(tmp_path / PLAYLIST)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    stream = info["streams"][0]
    assert stream["codec_name"] == "opus" and stream["sample_rate"] == "48000"
    assert stream["channels"] == 1
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(tmp_path / PLAYLIST), "-f", "s16le", "-ac", "1",
         "-ar", "48000", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    seconds = len(pcm) / 2 / 48000
    assert 5.5 <= seconds <= 6.1, seconds  # the last six segments of 500..799
    samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    assert np.sqrt(np.mean(samples**2)) > 0.1  # the tone, not silence


def test_playlist_position_says_what_a_blocking_reload_waits_for() -> None:
    segmenter = Segmenter()
    encoder = OpusEncoder()
    silence = encoder.encode(np.zeros(960, np.float32))
    update = Update()
    for seq in range(0, 131):
        update = update.merge(segmenter.push(seq, T0 + seq * 20_000, silence))
    now = position(update.playlist or "")
    assert (now.last_msn, now.parts, now.ended) == (1, 3, False)
    assert now.has(1) and now.has(2, 2) and not now.has(2, 3) and not now.has(2)
    assert not now.has(3, 0)


def test_every_uri_carries_the_callers_token() -> None:
    text = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXT-X-PART:DURATION=0.2,URI="3.0.m4s"\n3.m4s\n'
    assert with_query(text, "token=abc") == (
        '#EXTM3U\n#EXT-X-MAP:URI="init.mp4?token=abc"\n'
        '#EXT-X-PART:DURATION=0.2,URI="3.0.m4s?token=abc"\n3.m4s?token=abc\n'
    )
