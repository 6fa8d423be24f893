"""Who may publish and listen, and what moderation does to live sessions (aiortc clients).

Python aiortc peers stand in for browsers here (test_media_room.py uses
Chromium): they publish pre-encoded speech, so these tests are quick.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from infra.localstack import Stack
from media import clients
from media.clients import MediaRefused, Publisher
from tests.kafka_client import consume
from tests.media_clients import (
    Joined,
    act,
    eventually,
    join,
    live_room,
    speech_packets,
    talking,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[bytes | None]:
    return speech_packets(
        Path(tmp_path_factory.mktemp("speech")),
        "Testing one two three, the media plane is listening.",
    )


async def refused(
    http: aiohttp.ClientSession, url: str, token: str, packets: list[bytes | None]
) -> tuple[int, dict[str, str]]:
    with pytest.raises(MediaRefused) as caught:
        await clients.publish(http, url, token, packets)
    return caught.value.status, json.loads(caught.value.body)


def whip_of(joined: Joined) -> str:
    return str(joined.body["publish"]["whip"]) if joined.body["publish"] else ""


async def test_listener_token_cannot_publish(
    http: aiohttp.ClientSession, speech: list[bytes | None], stack: Stack
) -> None:
    room_id, _ = await live_room(http, "acc-host-1")
    listener = await join(http, room_id, "acc-lis-1")
    assert listener.body["publish"] is None
    whip = f"{stack.gateway_url}/v1/rooms/{room_id}/whip"
    status, problem = await refused(http, whip, listener.media_token, speech)
    assert status == 403 and problem["code"] == "not_on_stage", problem
    assert problem["status"] == 403 and problem["detail"]


async def test_speaker_token_for_one_room_cannot_publish_to_another(
    http: aiohttp.ClientSession, speech: list[bytes | None], stack: Stack
) -> None:
    room_x, _ = await live_room(http, "acc-host-2", "acc-spk-2")
    room_y, _ = await live_room(http, "acc-host-3", "acc-spk-2")
    speaker_x = await join(http, room_x, "acc-spk-2")
    whip_y = f"{stack.gateway_url}/v1/rooms/{room_y}/whip"
    status, problem = await refused(http, whip_y, speaker_x.media_token, speech)
    assert status == 403 and problem["code"] == "wrong_room", problem


async def test_a_user_token_or_no_token_is_not_a_media_token(
    http: aiohttp.ClientSession, speech: list[bytes | None], stack: Stack
) -> None:
    room_id, host_token = await live_room(http, "acc-host-4")
    whip = f"{stack.gateway_url}/v1/rooms/{room_id}/whip"
    assert (await refused(http, whip, host_token, speech))[0] == 401
    assert (await refused(http, whip, "", speech))[0] == 401


async def test_publishing_to_an_ended_room_is_a_conflict(
    http: aiohttp.ClientSession, speech: list[bytes | None]
) -> None:
    room_id, host_token = await live_room(http, "acc-host-5")
    host = await join(http, room_id, "acc-host-5")  # the host is on stage: a speaker token
    await act(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
    status, problem = await refused(http, whip_of(host), host.media_token, speech)
    assert status == 409 and problem["code"] == "room_ended", problem


async def test_bad_offers_are_refused_as_problems(http: aiohttp.ClientSession) -> None:
    room_id, _ = await live_room(http, "acc-host-6")
    host = await join(http, room_id, "acc-host-6")
    auth = {"Authorization": f"Bearer {host.media_token}"}
    async with http.post(whip_of(host), data="v=0", headers=auth) as response:
        assert response.status == 415
    sdp = {**auth, "Content-Type": "application/sdp"}
    async with http.post(whip_of(host), data="not sdp at all", headers=sdp) as response:
        assert response.status == 422
        assert response.headers["Content-Type"].startswith("application/problem+json")


async def test_delete_ends_the_whip_session(
    http: aiohttp.ClientSession, speech: list[bytes | None], stack: Stack
) -> None:
    room_id, _ = await live_room(http, "acc-host-7", "acc-spk-7")
    speaker = await join(http, room_id, "acc-spk-7")
    other = await join(http, room_id, "acc-host-7")
    publisher = await clients.publish(http, whip_of(speaker), speaker.media_token, speech)
    await clients.pace([publisher], 0.5)
    url = stack.gateway_url + publisher.location
    async with http.delete(url, headers={"Authorization": f"Bearer {other.media_token}"}) as r:
        assert r.status == 404  # someone else's session is not theirs to end
    async with http.delete(url, headers={"Authorization": f"Bearer {speaker.media_token}"}) as r:
        assert r.status == 204
    async with http.delete(url, headers={"Authorization": f"Bearer {speaker.media_token}"}) as r:
        assert r.status == 404
    await publisher.pc.close()


async def test_demoted_speaker_is_disconnected_and_their_old_token_refused(
    http: aiohttp.ClientSession, speech: list[bytes | None]
) -> None:
    room_id, host_token = await live_room(http, "acc-host-8", "acc-spk-8")
    speaker = await join(http, room_id, "acc-spk-8")
    publisher = await clients.publish(http, whip_of(speaker), speaker.media_token, speech)
    pacing = asyncio.create_task(clients.pace([publisher], 10.0))
    try:
        assert await eventually(lambda: publisher.pc.connectionState == "connected")
        await act(http, host_token, "DELETE", f"/v1/rooms/{room_id}/speakers/acc-spk-8")
        assert await eventually(lambda: publisher.pc.connectionState in ("closed", "failed"))
    finally:
        pacing.cancel()
        await publisher.pc.close()
    status, problem = await refused(http, whip_of(speaker), speaker.media_token, speech)
    assert status == 403 and problem["code"] == "not_on_stage", problem


async def test_listening_needs_a_media_token_for_this_room(
    http: aiohttp.ClientSession, stack: Stack
) -> None:
    room_x, _ = await live_room(http, "acc-host-9")
    room_y, _ = await live_room(http, "acc-host-10")
    listener_x = await join(http, room_x, "acc-lis-9")
    ws_y = f"{stack.gateway_url}/v1/rooms/{room_y}/listen"
    for url, status in ((ws_y, 401), (f"{ws_y}?token=forged", 401)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(url)
        assert caught.value.status == status
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await http.ws_connect(f"{ws_y}?token={listener_x.media_token}")
    assert caught.value.status == 403
    whep_y = f"{stack.gateway_url}/v1/rooms/{room_y}/whep"
    with pytest.raises(MediaRefused) as refusal:
        await clients.receive(http, whep_y, listener_x.media_token)
    assert refusal.value.status == 403


@contextlib.asynccontextmanager
async def ws_listening(
    http: aiohttp.ClientSession, room_id: str, user_id: str
) -> AsyncIterator[tuple[Joined, clients.WsListener]]:
    """``user_id`` joins and listens over the WebSocket for the duration of the block."""
    joined = await join(http, room_id, user_id)
    heard = clients.WsListener()
    task = asyncio.create_task(heard.run(http, joined.body["listen"]["websocket"]))
    try:
        yield joined, heard
    finally:
        task.cancel()


def room_states(heard: clients.WsListener) -> list[dict[str, Any]]:
    return [state for state in map(json.loads, heard.texts) if state["type"] == "room"]


async def test_listeners_hear_who_is_talking_and_a_text_only_one_gets_no_audio(
    http: aiohttp.ClientSession, speech: list[bytes | None]
) -> None:
    room_id, _ = await live_room(http, "acc-host-16", "acc-voice-16")
    async with (
        talking(http, room_id, "acc-voice-16", speech),
        ws_listening(http, room_id, "acc-lis-16") as (joined, heard),
    ):
        texts_only = clients.WsListener()
        url = joined.body["listen"]["websocket"] + "&audio=0"
        task = asyncio.create_task(texts_only.run(http, url))
        try:

            def said(listener: clients.WsListener) -> list[dict[str, Any]]:
                return [t for t in map(json.loads, listener.texts) if t["type"] == "activity"]

            assert await eventually(lambda: bool(said(heard)) and bool(said(texts_only)))
            assert said(heard)[0] == {
                "type": "activity", "user_id": "acc-voice-16", "talking": True
            }  # fmt: skip
            assert len(heard.heard) > 0
            assert texts_only.heard == [] and room_states(texts_only)
        finally:
            task.cancel()


async def test_websocket_listener_gets_the_room_state_and_is_closed_when_the_room_ends(
    http: aiohttp.ClientSession,
) -> None:
    room_id, host_token = await live_room(http, "acc-host-11")
    async with ws_listening(http, room_id, "acc-lis-11") as (_, heard):
        assert await eventually(lambda: bool(heard.texts))
        first = json.loads(heard.texts[0])
        assert first["type"] == "room" and first["room_id"] == room_id
        assert first["status"] == "live"
        await act(http, host_token, "POST", f"/v1/rooms/{room_id}/end")
        await asyncio.wait_for(heard.closed.wait(), 10)
        assert json.loads(heard.texts[-1])["status"] == "ended"


async def test_websocket_listeners_hear_of_role_and_audience_changes_as_they_happen(
    http: aiohttp.ClientSession,
) -> None:
    """The room's state is pushed when the gateway's read model changes, not polled."""
    room_id, host_token = await live_room(http, "acc-host-14")
    async with ws_listening(http, room_id, "acc-lis-14") as (_, heard):
        assert await eventually(lambda: bool(room_states(heard)))
        await act(http, host_token, "PUT", f"/v1/rooms/{room_id}/speakers/acc-guest-14")
        assert await eventually(lambda: room_states(heard)[-1]["speaker_ids"] == ["acc-guest-14"])
        await join(http, room_id, "acc-other-14")
        assert await eventually(lambda: room_states(heard)[-1]["listener_count"] == 2)
        versions = [state["version"] for state in room_states(heard)]
        assert versions == sorted(versions)


async def test_a_removed_listener_loses_every_listening_session(
    http: aiohttp.ClientSession,
) -> None:
    room_id, host_token = await live_room(http, "acc-host-15")
    async with ws_listening(http, room_id, "acc-lis-15") as (joined, heard):
        receiver = await clients.receive(http, joined.body["listen"]["whep"], joined.media_token)
        try:
            assert await eventually(lambda: receiver.pc.connectionState == "connected")
            await act(http, host_token, "PUT", f"/v1/rooms/{room_id}/removals/acc-lis-15")
            await asyncio.wait_for(heard.closed.wait(), 10)
            assert await eventually(lambda: receiver.pc.connectionState in ("closed", "failed"))
        finally:
            await receiver.pc.close()


async def test_client_side_mixing_forwards_each_speaker_and_is_journaled(
    http: aiohttp.ClientSession, speech: list[bytes | None], stack: Stack
) -> None:
    room_id, _ = await live_room(http, "acc-host-12", "acc-a-12", "acc-b-12")
    publishers: list[Publisher] = []
    for name in ("acc-a-12", "acc-b-12"):
        speaker = await join(http, room_id, name)
        publishers.append(
            await clients.publish(http, whip_of(speaker), speaker.media_token, speech)
        )
    listener = await join(http, room_id, "acc-lis-12")
    pacing = asyncio.create_task(clients.pace(publishers, 10.0))
    receiver = await clients.receive(
        http, listener.body["listen"]["whep"], listener.media_token, tracks=2
    )
    try:
        assert await eventually(lambda: all(t.packets > 50 for t in receiver.taps)), [
            t.packets for t in receiver.taps
        ]
    finally:
        pacing.cancel()
        for publisher in publishers:
            await publisher.pc.close()
        await receiver.pc.close()
    modes = [
        json.loads(m["payload"])["data"]["mode"]
        for m in await asyncio.to_thread(consume, stack.broker.bootstrap, "stoa.media-events")
        if m["key"] == room_id and b"MixingModeChanged" in m["payload"]
    ]
    assert modes[:2] == ["server", "client"], modes
