"""A room through the real media plane: three Chromium speakers, Python and Chromium listeners.

Each speaker is a headless Chromium process whose fake microphone loops an
espeak-ng phrase, publishing over WHIP from the ``/media`` page. A Python
WebSocket listener decodes the room's mix with PyAV; a Chromium page listens
over WHEP. Ann and Cat speak below 1.5 kHz and Ben above 2.5 kHz, so the
energy above 3 kHz in the mix is Ben's alone: that is how the mute test
hears whether Ben is in the mix.

The tests share one running room and run in file order (the last removes Ben).
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import jsonschema
import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from infra.localstack import Stack
from media.clients import Heard, WsListener, read_pcm
from schemas.export import load
from tests.kafka_client import consume
from tests.media_clients import (
    Joined,
    Pcm,
    act,
    align_loops,
    band_energy,
    decode_frames,
    dev_token,
    envelope_correlation,
    join,
    launch_speaker,
    media_page,
    page_listen,
    page_publish,
    page_stats,
    reference_mix,
    speech_wav,
)

pytestmark = pytest.mark.slow

LOW = ["sinc", "-1500"]
HIGH = ["sinc", "2500"]
PHRASES = {
    "ann": ("Alpha speaks first: the quick brown fox jumps over the lazy dog.", "en", 30, LOW),
    "ben": ("Bravo is here with a different sentence about seven silver ships.", "en+f3", 90, HIGH),
    "cat": ("Charlie closes with numbers: one, two, three, four, five, six.", "en-us", 50, LOW),
}
BEN_BAND = (3000.0, 6000.0)


@dataclass
class LiveRoom:
    room_id: str
    base_url: str
    http: aiohttp.ClientSession
    host_token: str
    speakers: dict[str, Joined]
    sources: dict[str, Pcm]
    browsers: dict[str, Browser]
    pages: dict[str, Page]
    listener: WsListener
    listener_join: Joined
    published_at: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def heard_between(self, start_us: int, end_us: int) -> list[Heard]:
        return [h for h in self.listener.heard if start_us <= h.record.capture_us < end_us]


def now_us() -> int:
    return time.time_ns() // 1000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live_room(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveRoom]:
    folder = Path(tmp_path_factory.mktemp("speech"))
    wavs = {
        name: speech_wav(folder / f"{name}.wav", text, voice, pitch, band)
        for name, (text, voice, pitch, band) in PHRASES.items()
    }
    http = aiohttp.ClientSession(base_url=stack.gateway_url)
    host_token = await dev_token(http, "media-host")
    async with http.post(
        "/v1/rooms",
        json={"title": "Three voices", "start_now": True},
        headers={"Authorization": f"Bearer {host_token}"},
    ) as response:
        room_id = (await response.json())["room_id"]
    for name in PHRASES:
        await act(http, host_token, "PUT", f"/v1/rooms/{room_id}/speakers/{name}")
    speakers = {name: await join(http, room_id, name) for name in PHRASES}
    listener_join = await join(http, room_id, "lou")

    pw = await async_playwright().start()
    launched = await asyncio.gather(*(launch_speaker(pw, wavs[n]) for n in PHRASES))
    browsers = dict(zip(PHRASES, launched, strict=True))
    live = LiveRoom(
        room_id,
        stack.gateway_url,
        http,
        host_token,
        speakers,
        {name: read_pcm(str(path)) for name, path in wavs.items()},
        browsers,
        {},
        WsListener(),
        listener_join,
    )
    live.tasks.append(
        asyncio.create_task(live.listener.run(http, listener_join.body["listen"]["websocket"]))
    )
    try:
        for name, browser in browsers.items():
            live.pages[name] = await media_page(browser, stack.gateway_url)
            joined = speakers[name]
            await page_publish(live.pages[name], joined.body["publish"]["whip"], joined.media_token)
        live.published_at = time.time()
        yield live
    finally:
        for task in live.tasks:
            task.cancel()
        for browser in browsers.values():
            await browser.close()
        await pw.stop()
        await http.close()


async def test_three_browser_speakers_are_heard_in_the_mix(live_room: LiveRoom) -> None:
    await asyncio.sleep(max(0.0, live_room.published_at + 1.0 - time.time()))
    start = now_us()
    await asyncio.sleep(6.0)
    heard = live_room.heard_between(start, now_us())
    seqs = [h.record.seq for h in heard]
    assert len(heard) >= 280, f"only {len(heard)} frames in 6 s"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the mix has gaps or reordering"

    mix = np.concatenate(decode_frames([h.record for h in heard]))
    names = list(PHRASES)
    sources = [live_room.sources[n] for n in names]
    phases = align_loops(mix, sources)
    reference = reference_mix(sources, phases, len(mix))
    correlation = envelope_correlation(mix, reference)
    assert correlation >= 0.8, f"envelope correlation with the reference mix is {correlation:.3f}"
    for i, name in enumerate(names):
        without = reference_mix(
            sources[:i] + sources[i + 1 :], phases[:i] + phases[i + 1 :], len(mix)
        )
        assert envelope_correlation(mix, without) < correlation, f"{name} adds nothing to the mix"

    latencies = sorted(h.received_us - h.record.capture_us for h in heard)
    p50 = latencies[len(latencies) // 2] / 1000
    assert p50 < 100, f"arrival to WebSocket p50 is {p50:.1f} ms"


async def test_whep_listener_in_chromium_receives_the_mix_without_loss(
    live_room: LiveRoom,
) -> None:
    page = await live_room.browsers["ann"].new_page()
    await page.goto(f"{live_room.base_url}/media")
    joined = live_room.listener_join
    await page_listen(page, joined.body["listen"]["whep"], joined.media_token)
    await asyncio.sleep(3.0)
    stats = await page_stats(page, "heard")
    inbound = stats["inbound-rtp"]
    assert stats["connectionState"] == "connected"
    assert inbound["packetsReceived"] >= 100, stats
    assert inbound["packetsLost"] == 0, stats
    await page.close()


async def test_a_speaker_who_listens_does_not_hear_their_own_voice(live_room: LiveRoom) -> None:
    """Mix-minus: Ben's own WebSocket feed lacks Ben's band; Lou hears Ben at the same time."""
    ben_ear = WsListener()
    url = live_room.speakers["ben"].body["listen"]["websocket"]
    task = asyncio.create_task(ben_ear.run(live_room.http, url))
    try:
        await asyncio.sleep(0.5)  # Ben's own stream starts on a fresh encoder
        start = now_us()
        await asyncio.sleep(3.0)
        end = now_us()
    finally:
        task.cancel()
    own_records = [h.record for h in ben_ear.heard if start <= h.record.capture_us < end]
    lou_records = [h.record for h in live_room.heard_between(start, end)]
    assert len(own_records) >= 140 and len(lou_records) >= 140
    own = decode_frames(own_records)
    lou = decode_frames(lou_records)
    loud = float(np.percentile([band_energy(f, *BEN_BAND) for f in lou], 90))
    assert loud > 1.0, f"Ben is not audible to Lou (p90 band energy {loud})"
    echo = float(np.percentile([band_energy(f, *BEN_BAND) for f in own], 90))
    assert echo < 0.02 * loud, f"Ben hears himself: p90 {echo:.2f} vs {loud:.2f}"
    others_own = float(np.percentile([band_energy(f, 80.0, 1400.0) for f in own], 90))
    others_lou = float(np.percentile([band_energy(f, 80.0, 1400.0) for f in lou], 90))
    assert others_own > 0.5 * others_lou, "Ben does not hear Ann and Cat"


async def test_muted_speaker_is_absent_from_the_mix_until_unmuted(live_room: LiveRoom) -> None:
    room = f"/v1/rooms/{live_room.room_id}"
    before_start = now_us()
    await asyncio.sleep(2.5)
    await act(live_room.http, live_room.host_token, "PUT", f"{room}/mutes/ben")
    muted_at = now_us()
    await asyncio.sleep(1.5)
    unmute_sent = now_us()  # the unmute may take effect before its HTTP answer arrives
    await act(live_room.http, live_room.host_token, "DELETE", f"{room}/mutes/ben")
    unmuted_at = now_us()
    await asyncio.sleep(3.0)

    def ben_energy(start: int, end: int) -> list[float]:
        heard = live_room.heard_between(start, end)
        return [band_energy(f, *BEN_BAND) for f in decode_frames([h.record for h in heard])]

    before = ben_energy(before_start, muted_at - 100_000)
    # "from the next frames on": every frame captured 40 ms (two frames) after the
    # mute was acknowledged, allowing for the event's trip to the media plane.
    muted = ben_energy(muted_at + 40_000, unmute_sent)
    after = ben_energy(unmuted_at + 300_000, now_us())
    loud = float(np.percentile(before, 90))
    assert loud > 1.0, f"Ben is not audible before the mute (p90 band energy {loud})"
    # Ann's and Cat's audio leaks a little above 3 kHz (Opus fills empty high bands by
    # folding lower ones), a few percent of Ben's level at most; Ben's speech is ~100%.
    quiet = float(np.percentile(muted, 90))
    assert quiet < 0.02 * loud, f"Ben is heard while muted: p90 {quiet:.2f} vs {loud:.2f}"
    assert max(muted) < 0.1 * loud, f"Ben is heard while muted: max {max(muted):.2f} vs {loud:.2f}"
    assert float(np.percentile(after, 90)) > 0.3 * loud, "Ben is not heard again after unmute"

    async with live_room.http.get("/metrics") as response:
        metrics = await response.text()
    assert 'stoa_media_enforcement_seconds_count{action="mute"}' in metrics
    assert 'stoa_media_sessions{kind="whip"} 3.0' in metrics


async def test_voice_activity_and_mixing_mode_are_journaled(
    live_room: LiveRoom, stack: Stack
) -> None:
    events = [
        json.loads(m["payload"])
        for m in await asyncio.to_thread(consume, stack.broker.bootstrap, "stoa.media-events")
        if m["key"] == live_room.room_id
    ]
    schemas = load()
    for event in events:
        jsonschema.Draft202012Validator(schemas[f"event.{event['type']}"]).validate(event)
    talking = {e["data"]["user_id"] for e in events if e["type"] == "SpeakerActivity"}
    assert talking >= set(PHRASES), f"activity only for {talking}"
    modes = [e["data"]["mode"] for e in events if e["type"] == "MixingModeChanged"]
    assert modes and modes[0] == "server"


async def test_removed_speaker_is_disconnected_and_cannot_publish_again(
    live_room: LiveRoom,
) -> None:
    ben = live_room.pages["ben"]
    room = f"/v1/rooms/{live_room.room_id}"
    await act(live_room.http, live_room.host_token, "PUT", f"{room}/removals/ben")
    await ben.wait_for_function(
        "['closed', 'failed', 'disconnected'].includes(window.speak.pc.connectionState)"
        " || window.speak.pc.getSenders()[0].transport.state === 'closed'",
        timeout=10_000,
    )
    joined = live_room.speakers["ben"]
    status = await ben.evaluate(
        "async ([u, t]) => { try { await stoa.publish(u, t, true); return 201; }"
        " catch (e) { return e.status; } }",
        [joined.body["publish"]["whip"], joined.media_token],
    )
    assert status == 403
    async with live_room.http.post(
        f"{room}/join", headers={"Authorization": f"Bearer {joined.user_token}"}
    ) as response:
        assert response.status == 403
