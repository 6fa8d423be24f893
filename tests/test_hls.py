"""HLS end to end: a speaker talks, the segmenter writes, FFmpeg listens over HTTP, access holds.

An aiortc speaker publishes pre-encoded speech into a live room; the
segmenter (its own process, following the gateway) writes the rendition into
the stack's object store; the gateway serves it. FFmpeg is the independent
client: it reads the live playlist over HTTP as a player would, decodes the
audio, and stops by itself when the room's end closes the playlist.
"""

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

from infra.localstack import Stack
from infra.settings import Settings
from media import clients
from media.fmp4 import boxes, fragment_timing
from media.tokens import MediaTokens
from tests.media_clients import Joined, act, join, live_room, speech_wav

pytestmark = pytest.mark.slow

TALK_SECONDS = 60.0
"""Longest the speaker talks; the last test ends the room well before."""


@dataclass
class TalkingRoom:
    room_id: str
    host_token: str
    listener: Joined


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def talking_room(
    http: aiohttp.ClientSession,
    segmenter: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TalkingRoom]:
    """A live room whose host talks (a loop of espeak-ng speech) for the module's tests."""
    wav = speech_wav(
        Path(tmp_path_factory.mktemp("hls")) / "s.wav",
        "Live audio over HLS, one second at a time, for every listener at once.",
        "en",
        50,
        [],
    )
    packets = clients.encode_packets(clients.read_pcm(str(wav)))
    room_id, host_token = await live_room(http, "hls-host", title="hls")
    host = await join(http, room_id, "hls-host")
    publisher = await clients.publish(http, host.body["publish"]["whip"], host.media_token, packets)
    pacing = asyncio.create_task(clients.pace([publisher], TALK_SECONDS))
    try:
        yield TalkingRoom(room_id, host_token, await join(http, room_id, "hls-listener"))
    finally:
        pacing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacing
        await publisher.pc.close()


def hls_path(joined: Joined) -> str:
    """The playlist URL the join answer gave, as a path on the gateway (token included)."""
    url: str = joined.body["listen"]["hls"]
    return url[url.index("/v1/") :]


async def get(http: aiohttp.ClientSession, path: str) -> tuple[int, dict[str, str], bytes]:
    async with http.get(path) as response:
        return response.status, dict(response.headers), await response.read()


async def first_playlist(http: aiohttp.ClientSession, path: str, timeout: float = 20) -> str:
    """The playlist once the segmenter has written one (404 ``hls_not_started`` until then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = await get(http, path)
        if status == 200 and b"#EXTINF" in body:
            return body.decode()
        assert status in (200, 404), (status, body)  # 200 with parts only, at first
        await asyncio.sleep(0.2)
    raise AssertionError(f"no playlist after {timeout}s")


async def test_hls_checks_the_token_and_the_room_on_every_request(
    http: aiohttp.ClientSession, talking_room: TalkingRoom
) -> None:
    room = talking_room
    path = hls_path(room.listener)
    playlist = await first_playlist(http, path)
    segment = next(line for line in playlist.splitlines() if re.match(r"^\d+\.m4s\?token=", line))
    segment_path = f"/v1/rooms/{room.room_id}/hls/{segment}"
    status, headers, body = await get(http, segment_path)
    assert status == 200 and headers["Content-Type"] == "audio/mp4"
    assert "immutable" in headers["Cache-Control"]

    other_room, _ = await live_room(http, "hls-host-b")
    status, headers, _ = await get(http, path.replace(room.room_id, other_room))
    assert status == 403 and headers["Cache-Control"] == "no-store"  # another room's token

    expired = MediaTokens(Settings().auth_secret, 300).issue(
        "hls-listener", room.room_id, "listener", ttl=-60
    )
    bare = path.split("?")[0]
    for query in (f"?token={expired}", "?token=forged", ""):
        status, headers, body = await get(http, bare + query)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", body

    await act(http, room.host_token, "PUT", f"/v1/rooms/{room.room_id}/removals/hls-listener")
    for refused in (path, segment_path):
        status, _, body = await get(http, refused)
        assert status == 403 and b'"removed"' in body, body


async def test_a_blocking_reload_answers_when_the_hinted_part_is_out(
    http: aiohttp.ClientSession, talking_room: TalkingRoom
) -> None:
    """LL-HLS: ask for the preload hint's part; the answer comes when it is listed."""
    listener = await join(http, talking_room.room_id, "hls-low-latency")
    path = hls_path(listener)
    playlist = await first_playlist(http, path)
    hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s', playlist)
    assert hint is not None, playlist
    msn, part = hint.groups()
    started = time.monotonic()
    status, headers, body = await get(http, f"{path}&_HLS_msn={msn}&_HLS_part={part}")
    assert status == 200 and time.monotonic() - started < 2.0
    assert f'URI="{msn}.{part}.m4s?token=' in body.decode()
    assert headers["Cache-Control"] == "public, max-age=6"
    status, _, body = await get(http, f"{path}&_HLS_msn={int(msn) + 10}")
    assert status == 400 and b"bad_blocking_request" in body


async def test_ffmpeg_plays_the_live_playlist_until_the_room_ends_it(
    http: aiohttp.ClientSession, talking_room: TalkingRoom, stack: Stack
) -> None:
    room = talking_room
    listener = await join(http, room.room_id, "hls-ffmpeg")
    path = hls_path(listener)
    playlist = await first_playlist(http, path)
    target = int(re.search(r"^#EXT-X-TARGETDURATION:(\d+)$", playlist, re.M).group(1))  # type: ignore[union-attr]
    assert target <= 2
    assert "#EXT-X-PROGRAM-DATE-TIME:" in playlist and '#EXT-X-MAP:URI="init.mp4?token=' in playlist
    assert 'CLASS="dev.stoa.tier"' in playlist and 'X-TIER="direct"' in playlist
    assert "#EXT-X-ENDLIST" not in playlist
    status, headers, _ = await get(http, path)
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert headers["Cache-Control"] == "public, max-age=1"

    # segment n holds the listen protocol's seqs 50n..50n+49, each decoded at seq * 960
    # (the first segment may start later: the segmenter joined the room on a part boundary)
    name = re.findall(r"^(\d+)\.m4s\?", playlist, re.M)[-1]
    _, _, data = await get(
        http, f"/v1/rooms/{room.room_id}/hls/{name}.m4s?token={listener.media_token}"
    )
    timing = [
        fragment_timing(data[offset : offset + size])
        for kind, offset, size in boxes(data)
        if kind == b"moof"
    ]
    assert timing[-1] == ((int(name) + 1) * 50 * 960 - 10 * 960, 10)
    assert all(later[0] - earlier[0] == 10 * 960 for earlier, later in pairwise(timing))

    ffmpeg = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-i", stack.gateway_url + path,
        "-f", "s16le", "-ac", "1", "-ar", "48000", "-",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    reading = asyncio.create_task(ffmpeg.communicate())
    await asyncio.sleep(12)
    assert not reading.done(), "ffmpeg stopped while the room was live"
    await act(http, room.host_token, "POST", f"/v1/rooms/{room.room_id}/end")
    pcm, errors = await asyncio.wait_for(reading, 20)  # it stops at EXT-X-ENDLIST by itself
    assert ffmpeg.returncode == 0, errors.decode()[-2000:]
    samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    seconds = len(samples) / 48000
    assert seconds >= 10, f"ffmpeg decoded {seconds:.1f}s"
    loud = [np.sqrt(np.mean(s**2)) > 0.01 for s in np.array_split(samples, int(seconds))]
    assert sum(loud) >= 0.5 * len(loud), "the audio is mostly silence"

    status, headers, body = await get(http, path)
    assert status == 200 and body.decode().endswith("#EXT-X-ENDLIST\n")
    assert headers["Cache-Control"] == "public, max-age=3600"
