"""Many WebSocket listeners in one process: the audience of ``stoa bench fanout`` and the tests.

``python -m bench.swarm --plan PLAN.json --seconds S`` starts one listener per
entry of the plan (a JSON list; each entry the WebSocket URLs of one listener,
with its token: where to listen, then where to resume), each a real WebSocket
client of the listen protocol (``bench.rawws``) that follows every seq it gets.
A listener whose connection drops resumes on its next URL with
``from=<last seq + 1>``, like a browser following its join answer's
fallbacks, and times how long that took. At the end it prints one JSON
object: per starting URL, how many listeners, frames, seqs lost without a gap
message, seqs reported as gaps, reconnects and resume times, connect times,
and delivery delays (receive time minus capture time).
"""

import argparse
import asyncio
import gc
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench import rawws
from bench.stats import percentile


@dataclass
class Ear:
    """One listener: its URLs (start, then fallbacks) and what it heard."""

    urls: list[str]
    tally: rawws.Tally
    reconnects: int = 0
    first_connected: float | None = None
    connect_seconds: list[float] = field(default_factory=list)
    resume_seconds: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def home(self) -> str:
        """The base URL (http form) of the node this listener started on."""
        base = self.urls[0].split("/v1/")[0]
        return "http" + base.removeprefix("ws") if base.startswith("ws") else base


async def listen(ear: Ear, seconds: float) -> None:
    """Listen for ``seconds`` from this listener's own start (a busy ramp must not shorten it)."""
    until = time.monotonic() + seconds
    attempt, dropped_at = 0, None
    while time.monotonic() < until and not ear.tally.ended:
        asked = time.monotonic()
        frames_before = ear.tally.frames
        try:
            connection = await rawws.connect(ear.urls[attempt % len(ear.urls)], ear.tally)
        except (OSError, ConnectionError) as exc:
            ear.error = str(exc)[:80]
        else:
            ear.connect_seconds.append(time.monotonic() - asked)
            ear.first_connected = ear.first_connected or time.monotonic()
            remaining = until - time.monotonic()
            if dropped_at is not None:
                while ear.tally.frames == frames_before and not connection.closed.done():
                    await asyncio.sleep(0.01)
                ear.resume_seconds.append(time.monotonic() - dropped_at)
                dropped_at = None
            try:
                await asyncio.wait_for(asyncio.shield(connection.closed), max(0.0, remaining))
            except TimeoutError:
                connection.close()
                return
        if time.monotonic() >= until or ear.tally.ended:
            return
        if dropped_at is None:
            dropped_at = time.monotonic()
        ear.reconnects += 1
        attempt += 1
        await asyncio.sleep(0.02 if attempt % len(ear.urls) else 0.25)


def summary(ears: list[Ear]) -> dict[str, Any]:
    by_home: dict[str, list[Ear]] = defaultdict(list)
    for ear in ears:
        by_home[ear.home].append(ear)
    out: dict[str, Any] = {"listeners": len(ears), "by_url": {}}
    for home, group in sorted(by_home.items()):
        tallies = [e.tally for e in group]
        resumes = [s for e in group for s in e.resume_seconds]
        connects = [s for e in group for s in e.connect_seconds]
        delays = [d / 1000 for t in tallies for d in t.delays_us]
        out["by_url"][home] = {
            "listeners": len(group),
            "connected": sum(bool(e.connect_seconds) for e in group),
            "silent_listeners": sum(t.frames == 0 for t in tallies),
            "frames_min": min((t.frames for t in tallies), default=0),
            "missing_total": sum(t.missing for t in tallies),
            "listeners_missing": sum(t.missing > 0 for t in tallies),
            "reported_gap_frames": sum(t.reported for t in tallies),
            "reconnects": sum(e.reconnects for e in group),
            "resume_max_s": max(resumes, default=0.0),
            "resume_p50_s": percentile(resumes, 50) if resumes else 0.0,
            "connect_p50_s": percentile(connects, 50) if connects else 0.0,
            "connect_max_s": max(connects, default=0.0),
            "delay_p50_ms": percentile(delays, 50) if delays else 0.0,
            "delay_p99_ms": percentile(delays, 99) if delays else 0.0,
            "moved": sum(bool(t.moved) for t in tallies),
            "errors": sorted({e.error for e in group if e.error})[:5],
        }
    return out


async def run(
    plan: list[list[str]], seconds: float, ramp: float, sample: int, settle: float | None = None
) -> dict[str, Any]:
    """With ``settle``, delays are kept only from ``settle`` seconds after everyone connected
    (the steady state), not while thousands of handshakes are still under way."""
    ears = [Ear(urls, rawws.Tally(sample_every=sample, sampling=settle is None)) for urls in plan]
    started = time.monotonic()
    tasks = []
    for ear in ears:
        tasks.append(asyncio.create_task(listen(ear, seconds)))
        if ramp:
            await asyncio.sleep(ramp / len(ears))
    if settle is not None:
        while any(e.first_connected is None and not e.error for e in ears):
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        for ear in ears:
            ear.tally.sampling = True
    await asyncio.gather(*tasks)
    result = summary(ears)
    connected = [e.first_connected for e in ears if e.first_connected is not None]
    result["all_connected_s"] = max(connected) - started if connected else None
    result["cpu_seconds"] = time.process_time()
    result["wall_seconds"] = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, help="JSON file: per listener, its URLs")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds to connect everyone")
    parser.add_argument("--sample", type=int, default=10, help="keep one delay in N")
    parser.add_argument("--settle", type=float, default=None, help="see ``run``")
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    # thousands of listeners keep millions of samples: a full collection walking them would
    # stall every listener at once and show up as delivery delay that is not the server's
    gc.freeze()
    gc.disable()
    result = asyncio.run(run(plan, args.seconds, args.ramp, args.sample, args.settle))
    print(json.dumps(result), flush=True)


def plan_for(
    relay_urls: list[str], tokens: list[str], room_id: str, query: str = ""
) -> list[list[str]]:
    """Listener ``i`` on relay ``i mod n``, resuming on the next relays in turn."""
    from media.urls import listen_url

    n = len(relay_urls)
    return [
        [listen_url(relay_urls[(i + k) % n], room_id, token) + query for k in range(n)]
        for i, token in enumerate(tokens)
    ]


if __name__ == "__main__":
    main()
