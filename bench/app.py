"""Browser app: click Listen → first sound, and mouth-to-ear delay, in Debian's Chromium.

Click to first audio: a room whose host (an aiortc peer) publishes a steady
tone, so any frame played is audible. For each try a fresh browser context
opens the room page, signed in, and the test clicks Listen; the page notes the
click (a capture-phase listener on the button) and polls its output
AnalyserNode every few ms: the first non-silent output is "first audio". The
page load is not counted, the join is. The audience's path is the WebSocket
(WebCodecs + AudioWorklet jitter buffer); people on stage listen over WHEP
(ICE, DTLS, then RTP), so a promoted user measures that path.

Mouth to ear: the host of a second room is a Chromium page whose fake
microphone plays 50 ms beeps once a second, published by the app's own
microphone button (WHIP, no voice processing). A listener page (WebSocket) and
an on-stage page (WHEP) in the same browser hear it. Each page finds beep
onsets in an AnalyserNode (the speaker in its microphone stream, the listeners
in what they play): the first sample above a threshold in the analyser's last
2048 samples, placed in time from the AudioContext's clock at the poll. All
pages share the browser's clock, so listener onset minus the speaker's onset
is the delay from the speaker page's graph to the listener's output graph.
Not included: the microphone's own capture latency (a fake device here) and
the listener's output device latency (reported as the AudioContext's
baseLatency + outputLatency).
"""

import asyncio
import contextlib
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bench.media_common import call, media_stack, open_room, user_token
from bench.stats import percentile
from infra.chromium import CHROMIUM, MEDIA_ARGS
from media import clients

TRIES = 20
BEEP_SECONDS = 25.0
THRESHOLD = 0.1
"""Beeps are at -6 dBFS (0.5): an onset is the first sample above this."""

CLICK_PROBE = """() => {
  window.__bench = { clicked: null, heard: null };
  const button = document.getElementById("listen-btn");
  button.addEventListener("click", () => {
    __bench.clicked = performance.now();
    const poll = () => {
      const meter = window.stoaApp.hearing && window.stoaApp.hearing.meter;
      if (meter && meter.rms() > 0.01) { __bench.heard = performance.now(); return; }
      setTimeout(poll, 1);
    };
    poll();
  }, { capture: true });
}"""

ONSETS = """([kind, threshold]) => {
  window.__onsets = [];
  const find = () => {
    if (kind === "mic") {
      const mic = window.stoaApp.mic;
      return mic && mic.analyser ? [mic.ctx, mic.analyser] : null;
    }
    const hearing = window.stoaApp.hearing;
    return hearing && hearing.meter ? [hearing.meter.ctx, hearing.meter.analyser] : null;
  };
  let buffer = null;
  let last = -1e12;
  let quiet = true;
  setInterval(() => {
    const found = find();
    if (!found) return;
    const [ctx, analyser] = found;
    if (!buffer || buffer.length !== analyser.fftSize) buffer = new Float32Array(analyser.fftSize);
    const now = performance.timeOrigin + performance.now();
    const ctxNow = ctx.currentTime;
    analyser.getFloatTimeDomainData(buffer);
    let first = -1;
    for (let i = 0; i < buffer.length; i += 1) {
      if (Math.abs(buffer[i]) > threshold) { first = i; break; }
    }
    if (first < 0) { quiet = true; return; }
    // the buffer's last sample is the context's current time; sample i is older
    const at = now - ((buffer.length - first) / ctx.sampleRate) * 1000;
    if (quiet && first > 0 && at > last + 300) {
      window.__onsets.push(at);
      last = at;
      window.__latency = (ctx.baseLatency || 0) + (ctx.outputLatency || 0);
    }
    quiet = false;
  }, 4);
}"""


def _sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True)


def _tone(folder: Path) -> Path:
    path = folder / "tone.wav"
    _sox("-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", "10", "sine", "440",
         "vol", "0.5")  # fmt: skip
    return path


def _beeps(folder: Path) -> Path:
    """A 50 ms 1 kHz beep, then 950 ms of silence, ten times (Chromium loops the file)."""
    path = folder / "beeps.wav"
    _sox("-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", "0.05", "sine", "1000",
         "vol", "0.5", "pad", "0", "0.95", "repeat", "9")  # fmt: skip
    return path


@contextlib.asynccontextmanager
async def _signed_in(browser: Browser, token: str) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    await context.add_init_script(
        f"localStorage.setItem('stoa.token', {token!r}); localStorage.setItem('stoa.mic', 'raw');"
    )
    try:
        yield context
    finally:
        await context.close()


async def _click_to_sound(browser: Browser, url: str, token: str) -> float:
    """One try: a fresh page, Listen, ms until its output is no longer silent."""
    async with _signed_in(browser, token) as context:
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector("#listen-btn:not([hidden])")
        await page.evaluate(CLICK_PROBE)
        await page.click("#listen-btn")
        await page.wait_for_function("window.__bench.heard !== null", timeout=10_000)
        ms: float = await page.evaluate("__bench.heard - __bench.clicked")
        await page.click("#stop-btn")
        await page.wait_for_timeout(100)
        return ms


async def _first_audio(
    http: aiohttp.ClientSession, browser: Browser, base_url: str, tries: int
) -> dict[str, Any]:
    tone = clients.encode_packets(clients.read_pcm(str(_tone(Path(tempfile.mkdtemp())))))
    room_id, host_token, joins = await open_room(http, "bench-app-tone", ["bench-app-tone"])
    publisher = await clients.publish(http, joins[0]["publish"]["whip"], joins[0]["token"], tone)
    pacing = asyncio.create_task(clients.pace([publisher], 3600))
    await call(http, host_token, "PUT", f"/v1/rooms/{room_id}/speakers/bench-app-stage")
    url = f"{base_url}/rooms/{room_id}"
    figures: dict[str, Any] = {}
    try:
        await asyncio.sleep(1.0)
        for path, user in (("websocket", "bench-app-ear"), ("whep", "bench-app-stage")):
            token = await user_token(http, user)
            await _click_to_sound(browser, url, token)  # warm-up: caches, first decoder
            times = [await _click_to_sound(browser, url, token) for _ in range(tries)]
            figures[f"listen_to_audio_{path}_p50_ms"] = percentile(times, 50)
            figures[f"listen_to_audio_{path}_p90_ms"] = percentile(times, 90)
            figures[f"listen_to_audio_{path}_min_ms"] = min(times)
            figures[f"listen_to_audio_{path}_max_ms"] = max(times)
    finally:
        pacing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacing
        await publisher.pc.close()
        await call(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
    return figures


async def _page(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector("#room-status:text('Live')")
    return page


def _delays(mouth: list[float], ear: list[float]) -> list[float]:
    """Each ear onset minus the last mouth onset before it (within 800 ms)."""
    out = []
    spoken = np.array(sorted(mouth))
    for heard in ear:
        before = spoken[spoken < heard]
        if len(before) and heard - before[-1] < 800:
            out.append(float(heard - before[-1]))
    return out


async def _mouth_to_ear(
    http: aiohttp.ClientSession, browser: Browser, base_url: str, seconds: float
) -> dict[str, Any]:
    host_token = await user_token(http, "bench-app-voice")
    async with http.post(
        "/v1/rooms",
        json={"title": "bench mouth to ear", "start_now": True},
        headers={"Authorization": f"Bearer {host_token}"},
    ) as response:
        room_id = (await response.json())["room_id"]
    await call(http, host_token, "PUT", f"/v1/rooms/{room_id}/speakers/bench-app-stage-ear")
    url = f"{base_url}/rooms/{room_id}"
    async with (
        _signed_in(browser, host_token) as speaker_context,
        _signed_in(browser, await user_token(http, "bench-app-far-ear")) as ws_context,
        _signed_in(browser, await user_token(http, "bench-app-stage-ear")) as whep_context,
    ):
        speaker = await _page(speaker_context, url)
        await speaker.click("#mic-btn")
        await speaker.wait_for_selector("#mute-btn:not([hidden])", timeout=10_000)
        ears = {"websocket": await _page(ws_context, url), "whep": await _page(whep_context, url)}
        for ear in ears.values():
            await ear.click("#listen-btn")
            await ear.wait_for_selector("#stop-btn:not([hidden])", timeout=10_000)
        await asyncio.sleep(1.0)
        await speaker.evaluate(ONSETS, ["mic", THRESHOLD])
        for ear in ears.values():
            await ear.evaluate(ONSETS, ["out", THRESHOLD])
        await asyncio.sleep(seconds)
        mouth: list[float] = await speaker.evaluate("window.__onsets")
        figures: dict[str, Any] = {"beeps_spoken": len(mouth)}
        for path, ear in ears.items():
            heard: list[float] = await ear.evaluate("window.__onsets")
            delays = _delays(mouth, heard)
            latency = await ear.evaluate("window.__latency || 0")
            figures[f"mouth_to_ear_{path}_beeps_heard"] = len(delays)
            if delays:
                figures[f"mouth_to_ear_{path}_p50_ms"] = percentile(delays, 50)
                figures[f"mouth_to_ear_{path}_p90_ms"] = percentile(delays, 90)
                figures[f"mouth_to_ear_{path}_min_ms"] = min(delays)
                figures[f"mouth_to_ear_{path}_max_ms"] = max(delays)
            figures[f"{path}_output_latency_ms"] = round(float(latency) * 1000, 1)
        state = await ears["websocket"].evaluate(
            "({buffered: stoaListener.state.bufferedMs, underruns: stoaListener.state.underruns})"
        )
        figures["websocket_jitter_buffer_ms_at_end"] = state["buffered"]
        figures["websocket_underruns"] = state["underruns"]
    await call(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
    return figures


async def _run(quick: bool) -> dict[str, Any]:
    tries = 5 if quick else TRIES
    seconds = 8.0 if quick else BEEP_SECONDS
    with media_stack() as stack, tempfile.TemporaryDirectory(prefix="stoa-bench-app-") as tmp:
        beeps = _beeps(Path(tmp))
        async with (
            aiohttp.ClientSession(base_url=stack.gateway_url) as http,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[*MEDIA_ARGS, f"--use-file-for-fake-audio-capture={beeps}"],
            )
            try:
                started = time.monotonic()
                figures = await _first_audio(http, browser, stack.gateway_url, tries)
                figures.update(await _mouth_to_ear(http, browser, stack.gateway_url, seconds))
                figures["tries"] = tries
                figures["bench_seconds"] = round(time.monotonic() - started, 1)
            finally:
                await browser.close()
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(quick))
