"""Relays carry a talking room to many listeners, survive a relay's death, and check tokens.

The listeners run in a separate process (``bench.swarm``), each a real
WebSocket client of the listen protocol; the room is fed by an aiortc
publisher playing speech to the mixing node (the gateway), and the relays are
real processes subscribing to it.
"""

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio

from bench.swarm import plan_for
from infra.localstack import Relay, Stack
from infra.settings import Settings
from media import clients
from media.tokens import MEDIA_AUDIENCE, MediaTokens
from media.urls import listen_url
from tests.media_clients import act, live_room, speech_packets, talking

pytestmark = pytest.mark.slow

TOKENS = MediaTokens(Settings().auth_secret, ttl=600)


@dataclass
class TalkingRoom:
    room_id: str
    host_token: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def room(
    http: aiohttp.ClientSession, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TalkingRoom]:
    """A live room whose host keeps talking for the whole module."""
    folder = Path(tmp_path_factory.mktemp("relay-speech"))
    packets = speech_packets(folder, "One relay, two relays, three relays carry the room.", 40)
    room_id, host_token = await live_room(http, "relay-host", title="relayed")
    async with talking(http, room_id, "relay-host", packets):
        yield TalkingRoom(room_id, host_token)


async def swarm(plan: list[list[str]], seconds: float, ramp: float, folder: Path) -> Any:
    """Run ``bench.swarm`` as its own process; returns it (started) and its plan file."""
    path = folder / f"plan-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(plan))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.swarm", "--plan", str(path),
        "--seconds", str(seconds), "--ramp", str(ramp),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def outcome(process: Any) -> dict[str, Any]:
    out, _ = await process.communicate()
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def tokens(count: int, room_id: str, prefix: str) -> list[str]:
    return [TOKENS.issue(f"{prefix}-{i}", room_id, "listener") for i in range(count)]


async def test_1500_listeners_over_three_relays_hear_every_seq(
    stack: Stack, room: TalkingRoom, tmp_path: Path
) -> None:
    relays = [await asyncio.to_thread(stack.start_relay) for _ in range(3)]
    plan = plan_for([r.url for r in relays], tokens(1500, room.room_id, "crowd"), room.room_id)
    result = await outcome(await swarm(plan, seconds=20, ramp=3, folder=tmp_path))
    assert result["listeners"] == 1500
    for url, figures in result["by_url"].items():
        assert figures["listeners"] == 500, (url, figures)
        assert figures["silent_listeners"] == 0, (url, figures)
        assert figures["frames_min"] >= 20 * 50 * 0.9, (url, figures)  # 20 s of 20 ms frames
        assert figures["missing_total"] == 0, (url, figures)
        assert figures["reconnects"] == 0, (url, figures)


async def test_listeners_of_a_killed_relay_resume_elsewhere_within_two_seconds(
    stack: Stack, room: TalkingRoom, tmp_path: Path
) -> None:
    relays = [await asyncio.to_thread(stack.start_relay) for _ in range(3)]
    victim = relays[0]
    plan = plan_for([r.url for r in relays], tokens(150, room.room_id, "kill"), room.room_id)
    process = await swarm(plan, seconds=12, ramp=1, folder=tmp_path)
    await asyncio.sleep(6)
    victim.process.send_signal(signal.SIGKILL)
    result = await outcome(process)
    killed = result["by_url"][victim.url]
    assert killed["reconnects"] >= killed["listeners"] == 50, killed
    assert killed["resume_max_s"] <= 2.0, killed
    assert killed["missing_total"] == 0, killed  # backfilled, or reported as a gap
    for survivor in relays[1:]:
        figures = result["by_url"][survivor.url]
        assert figures["reconnects"] == 0 and figures["missing_total"] == 0, figures
        assert figures["reported_gap_frames"] == 0, figures


async def refusal(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await http.ws_connect(url)
    async with http.get(url.replace("ws://", "http://")) as response:
        body = await response.json()
    return caught.value.status, body


async def test_a_relay_checks_tokens_and_the_room(
    stack: Stack, http: aiohttp.ClientSession, room: TalkingRoom
) -> None:
    relay: Relay = await asyncio.to_thread(stack.start_relay)
    room_b, _ = await live_room(http, "relay-other-host", title="another")
    token_a = TOKENS.issue("relay-ann", room.room_id, "listener")
    status, body = await refusal(http, listen_url(relay.url, room_b, token_a))
    assert (status, body["code"]) == (403, "wrong_room")
    expired = jwt.encode(
        {"sub": "relay-ann", "room": room.room_id, "role": "listener",
         "aud": MEDIA_AUDIENCE, "exp": int(time.time()) - 10},
        Settings().auth_secret, algorithm="HS256",
    )  # fmt: skip
    status, body = await refusal(http, listen_url(relay.url, room.room_id, expired))
    assert (status, body["code"]) == (401, "token_expired")
    status, _ = await refusal(http, listen_url(relay.url, room.room_id, "forged"))
    assert status == 401


async def test_a_removed_listener_is_closed_by_the_relay_and_cannot_return(
    stack: Stack, http: aiohttp.ClientSession, room: TalkingRoom
) -> None:
    relay: Relay = await asyncio.to_thread(stack.start_relay)
    url = listen_url(relay.url, room.room_id, TOKENS.issue("relay-rex", room.room_id, "listener"))
    heard = clients.WsListener()
    task = asyncio.create_task(heard.run(http, url))
    try:
        deadline = time.monotonic() + 10
        while len(heard.heard) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(heard.heard) >= 20
        await act(http, room.host_token, "PUT", f"/v1/rooms/{room.room_id}/removals/relay-rex")
        await asyncio.wait_for(heard.closed.wait(), 10)
    finally:
        task.cancel()
    status, body = await refusal(http, url)
    assert (status, body["code"]) == (403, "removed")


async def test_a_child_relay_fails_over_when_its_parent_dies(
    stack: Stack, room: TalkingRoom, tmp_path: Path
) -> None:
    """A two-level tree: listeners on a leaf relay whose upstream is another relay. The
    parent is killed; the leaf's feed moves to the mixing node (the parent had no sibling)
    and resumes from its last seq, so its listeners miss nothing and never reconnect."""
    parent = await asyncio.to_thread(stack.start_relay)
    leaf = await asyncio.to_thread(stack.start_relay, parent.url, "leaf")
    plan = plan_for([leaf.url], tokens(50, room.room_id, "tree"), room.room_id)
    process = await swarm(plan, seconds=10, ramp=1, folder=tmp_path)
    await asyncio.sleep(5)
    parent.process.send_signal(signal.SIGKILL)
    result = await outcome(process)
    figures = result["by_url"][leaf.url]
    assert figures["listeners"] == 50 and figures["reconnects"] == 0, figures
    assert figures["missing_total"] == 0 and figures["reported_gap_frames"] == 0, figures
    assert figures["frames_min"] >= 10 * 50 * 0.85, figures  # the room never stopped for them
