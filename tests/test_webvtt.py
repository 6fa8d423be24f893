"""Live captions as the HLS rendition's WebVTT subtitles: which cues, in which segment, as text.

The pure rules (``media.webvtt``) first, then the segmenter writing WebVTT
segments beside its audio ones, then one run of the segmenter node's room
(``media.hls_node.HlsRoom``: its real ``Feed``, segmenter and writer) against
a stand-in upstream that speaks the listen protocol, read back from the object
store as the gateway reads it.
"""

import asyncio
import json
import math
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from infra.objects import ObjectStoreClient, open_store
from media.fmp4 import boxes, fragment_timing
from media.hls_node import HlsNode, HlsRoom
from media.listen import encode_record
from media.opus import OpusEncoder
from media.playlist import with_query
from media.rendition import RenditionStore, key
from media.segmenter import CAPTIONS_PLAYLIST, MULTIVARIANT, PLAYLIST, Segmenter, Update
from media.webvtt import Cue, cue_from_message, cue_text, due, render, timestamp

T0 = 1_800_000_000_000_000
ANN = "3f1c0a52-8d4e-4c6f-9b1a-2d7e5f0c4b11"


def final(text: str, start: float, end: float, speaker: str | None = "ann", **more: Any) -> dict:
    return {
        "type": "caption",
        "text": text,
        "final": True,
        "start": start,
        "end": end,
        "speaker_id": speaker,
        "segment_id": more.pop("segment_id", str(uuid.uuid4())),
        **more,
    }


def cue(text: str, start: float, end: float, speaker: str | None = None) -> Cue:
    made = cue_from_message(final(text, start, end, speaker))
    assert made is not None
    return made


# --- the rules ----------------------------------------------------------------


def test_only_final_well_formed_captions_become_cues() -> None:
    made = cue_from_message(final("hello  there\n all", 12.34, 15.2, segment_id=ANN))
    assert made == Cue(ANN, 12.34, 15.2, "hello there all", "ann")
    assert cue_from_message({**final("x", 1, 2), "final": False}) is None
    assert cue_from_message({"type": "captions", "status": "live", "reason": ""}) is None
    for broken in (
        {"end": 1.0, "start": 2.0},
        {"start": math.nan},
        {"start": True},
        {"text": "   "},
        {"text": None},
    ):
        assert cue_from_message({**final("x", 1, 2), **broken}) is None, broken


def test_a_caption_without_a_usable_segment_id_gets_the_same_id_every_time() -> None:
    one = cue_from_message(final("hi", 1, 2, segment_id="a b\n-->"))
    two = cue_from_message(final("hi", 1, 2, segment_id=None))
    assert one is not None and two is not None and one.id == two.id
    assert re.fullmatch(r"[A-Za-z0-9-]+", one.id)
    assert cue_from_message(final("ho", 1, 2, segment_id=None)).id != one.id  # type: ignore[union-attr]


def test_a_segment_takes_overlapping_and_late_cues_and_keeps_those_that_go_on() -> None:
    late = cue("late", 0.5, 1.5)
    spanning = cue("spanning", 2.9, 4.2)
    inside = cue("inside", 3.1, 3.5)
    ahead = cue("ahead", 5.2, 5.6)
    into, kept = due([late, spanning, inside, ahead], 4.0)  # the segment [3, 4)
    assert into == [late, spanning, inside]
    assert kept == [spanning, ahead]
    into, kept = due(kept, 5.0)  # [4, 5)
    assert into == [spanning] and kept == [ahead]
    into, kept = due(kept, math.inf)  # the last segment of the room
    assert into == [ahead] and kept == []


def test_a_cue_ending_at_a_segment_boundary_is_not_in_the_next_segment() -> None:
    edge = cue("edge", 2.5, 3.0)
    assert due([edge], 3.0) == ([edge], [])
    starting = cue("starting", 3.0, 3.0)
    assert due([starting], 3.0) == ([], [starting])


def test_timestamps_are_hours_minutes_seconds_and_milliseconds() -> None:
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(12.3456) == "00:00:12.346"
    assert timestamp(3723.4) == "01:02:03.400"
    assert timestamp(100 * 3600 + 0.001) == "100:00:00.001"


def test_a_known_speaker_is_a_voice_span_and_markup_is_escaped() -> None:
    assert cue_text(cue("hi", 1, 2, "ann")) == "<v ann>hi</v>"
    assert cue_text(cue("a<b> & c --> d", 1, 2)) == "a&lt;b&gt; &amp; c --&gt; d"
    assert cue_text(cue("x", 1, 2, "a>b&c")) == "<v a&gt;b&amp;c>x</v>"


def test_a_segment_maps_cue_time_to_media_time_and_orders_its_cues() -> None:
    later = cue("second", 14.0, 15.0, "bo")
    earlier = cue_from_message(final("first", 12.34, 15.2, "ann", segment_id=ANN))
    assert earlier is not None
    text = render([later, earlier])
    assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n")
    assert text.endswith(
        f"{ANN}\n00:00:12.340 --> 00:00:15.200\n<v ann>first</v>\n\n"
        f"{later.id}\n00:00:14.000 --> 00:00:15.000\n<v bo>second</v>\n"
    )
    assert render([]) == "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"


# --- the segmenter's captions rendition ----------------------------------------


@pytest.fixture(scope="module")
def packet() -> bytes:
    return OpusEncoder().encode(np.zeros(960, np.float32))


def push(segmenter: Segmenter, seqs: range, packet: bytes) -> Update:
    total = Update()
    for seq in seqs:
        total = total.merge(segmenter.push(seq, T0 + seq * 20_000, packet))
    return total


def vtt(update: Update) -> dict[str, str]:
    return {name: data.decode() for name, data in update.captions}


def entries(playlist: str) -> list[tuple[str, str]]:
    """``(EXTINF, URI)`` of each complete segment."""
    return re.findall(r"^#EXTINF:([\d.]+),\n(\S+)$", playlist, re.M)


def test_each_audio_segment_has_a_webvtt_segment_of_the_same_number(packet: bytes) -> None:
    segmenter = Segmenter()
    update = push(segmenter, range(20, 151), packet)  # segment 0 starts late: 0.6 s
    assert list(vtt(update)) == ["0.vtt", "1.vtt", "2.vtt"]
    assert update.playlist is not None and update.captions_playlist is not None
    audio = [(d, u.replace(".m4s", "")) for d, u in entries(update.playlist)]
    captions = [(d, u.replace(".vtt", "")) for d, u in entries(update.captions_playlist)]
    assert captions == audio == [("0.600", "0"), ("1.000", "1"), ("1.000", "2")]
    assert "#EXT-X-MAP" not in update.captions_playlist
    dates = re.findall(r"PROGRAM-DATE-TIME:(\S+)", update.playlist)  # and the segment in progress
    assert re.findall(r"PROGRAM-DATE-TIME:(\S+)", update.captions_playlist) == dates[:3]


def test_a_caption_spanning_two_segments_is_in_both_and_a_late_one_in_the_next(
    packet: bytes,
) -> None:
    segmenter = Segmenter()
    written = push(segmenter, range(0, 101), packet)  # segments 0 and 1 are out
    assert set(vtt(written)) == {"0.vtt", "1.vtt"}
    late = cue("late words", 0.5, 1.5)
    spanning = cue("spanning words", 2.9, 4.2, "ann")
    segmenter.caption(late)
    segmenter.caption(spanning)
    segmenter.caption(late)  # sent twice: written once
    out = vtt(push(segmenter, range(101, 251), packet))
    assert out["2.vtt"].count("late words") == 1 and "spanning" in out["2.vtt"]
    assert "<v ann>spanning words</v>" in out["3.vtt"] and "late" not in out["3.vtt"]
    assert "spanning" in out["4.vtt"]
    assert "00:00:02.900 --> 00:00:04.200" in out["4.vtt"]


def test_the_multivariant_playlist_comes_with_the_first_complete_segment(packet: bytes) -> None:
    segmenter = Segmenter()
    early = push(segmenter, range(0, 50), packet)
    assert early.playlist is not None  # parts are listed at once
    assert early.captions_playlist is None and early.multivariant is None
    first = push(segmenter, range(50, 51), packet)
    assert first.captions_playlist is not None and first.multivariant is not None
    assert first.multivariant == (
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="captions",NAME="Captions",LANGUAGE="en",'
        'AUTOSELECT=YES,DEFAULT=NO,URI="captions.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=80000,CODECS="opus",SUBTITLES="captions"\n'
        "index.m3u8\n"
    )
    assert push(segmenter, range(51, 101), packet).multivariant is None  # written once
    tokened = with_query(first.multivariant, "token=t")
    assert 'URI="captions.m3u8?token=t"' in tokened and "\nindex.m3u8?token=t\n" in tokened


def test_captions_leave_the_window_with_their_audio_and_the_end_closes_both(
    packet: bytes,
) -> None:
    segmenter = Segmenter()
    update = push(segmenter, range(0, 1000), packet)
    assert update.captions_playlist is not None
    assert [u for _, u in entries(update.captions_playlist)] == [f"{n}.vtt" for n in range(13, 19)]
    assert "0.vtt" in update.captions_deletes and "0.vtt" not in update.deletes
    assert "0.m4s" in update.deletes
    segmenter.caption(cue("after the last frame", 19.9, 20.5))
    ended = segmenter.end()
    assert ended.captions_playlist is not None
    assert ended.captions_playlist.endswith("19.vtt\n#EXT-X-ENDLIST\n")
    assert "after the last frame" in vtt(ended)["19.vtt"]


# --- the segmenter node, end to end ----------------------------------------------


class Upstream:
    """A mixing node's listen endpoint, playing a script of binary and text messages."""

    def __init__(self, script: list[bytes | dict[str, Any]]) -> None:
        self.script = script

    async def listen(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for message in self.script:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(json.dumps(message))
            await asyncio.sleep(0.001)
        await ws.close()
        return ws


@pytest.fixture
async def upstream_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    upstream: Upstream = request.param
    app = web.Application()
    app.router.add_get("/v1/rooms/{room_id}/listen", upstream.listen)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def script() -> list[bytes | dict[str, Any]]:
    """Six seconds of a room: captions come late, early, twice, and partial."""
    encoder = OpusEncoder()
    t = np.arange(960) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    packet = encoder.encode(tone)
    late = final("late words", 0.5, 1.5, "ann", segment_id=ANN)
    messages: list[bytes | dict[str, Any]] = []
    for first in range(0, 300, 10):
        messages.append(
            b"".join(encode_record(s, T0 + s * 20_000, packet) for s in range(first, first + 10))
        )
        if first == 20:
            messages.append({**final("never final", 0.2, 0.9), "final": False})
        if first == 100:
            messages.append(final("ahead of the audio", 5.2, 5.6, None))
        if first == 150:  # segment 2 is out: these come after their segments
            messages.append(late)
            messages.append(final("spanning words", 2.9, 4.2, "bo"))
            messages.append({"type": "captions", "status": "live", "reason": ""})
        if first == 200:
            messages.append(late)  # again, from a reconnection
    messages.append({"type": "room", "status": "ended"})
    return messages


@pytest.mark.parametrize("upstream_url", [Upstream(script())], indirect=True)
async def test_the_segmenter_node_writes_captions_beside_the_audio(
    upstream_url: str, tmp_path: Path
) -> None:
    store = RenditionStore(ObjectStoreClient(open_store("memory://")))
    finished: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    async with aiohttp.ClientSession() as http:
        node = SimpleNamespace(
            http=http,
            upstream=upstream_url,
            relay_token=lambda: "relay-token",
            store=store,
            states=SimpleNamespace(rooms={}),
            finished=lambda room, ended: finished.set_result(ended),
        )
        HlsRoom(cast(HlsNode, node), "room-1")
        assert await asyncio.wait_for(finished, 20) is True

    async def text(name: str) -> str:
        data = await store.objects.get(key("room-1", name))
        assert data is not None, f"{name} was not stored"
        return data.decode()

    audio, captions = await text(PLAYLIST), await text(CAPTIONS_PLAYLIST)
    assert audio.endswith("#EXT-X-ENDLIST\n") and captions.endswith("#EXT-X-ENDLIST\n")
    assert (
        [(d, u[:-4]) for d, u in entries(captions)]
        == [(d, u[:-4]) for d, u in entries(audio)]
        == [("1.000", str(n)) for n in range(6)]
    )
    assert 'SUBTITLES="captions"' in await text(MULTIVARIANT)
    segments = {n: await text(f"{n}.vtt") for n in range(6)}
    for body in segments.values():
        assert body.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n")
    assert "never" not in "".join(segments.values())
    assert [n for n, body in segments.items() if "late words" in body] == [3]  # 3 is next out
    assert segments[3].count(ANN) == 1
    assert f"{ANN}\n00:00:00.500 --> 00:00:01.500\n<v ann>late words</v>" in segments[3]
    assert [n for n, body in segments.items() if "spanning" in body] == [3, 4]
    assert [n for n, body in segments.items() if "ahead" in body] == [5]
    assert "\nahead of the audio\n" in segments[5]  # no speaker: no voice span

    # the map holds: cue time 3.0 s is where audio segment 3 starts (its tfdt / 48 kHz)
    media = await store.objects.get(key("room-1", "3.m4s"))
    assert media is not None
    timing = [fragment_timing(media[o : o + n]) for kind, o, n in boxes(media) if kind == b"moof"]
    assert timing[0][0] / 48000 == 3.0

    # an independent reader: FFmpeg reads the WebVTT segments back as subtitles
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    (tmp_path / "3.vtt").write_text(segments[3])
    srt = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(tmp_path / "3.vtt"), "-f", "srt", "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "00:00:00,500 --> 00:00:01,500" in srt and "00:00:02,900 --> 00:00:04,200" in srt
