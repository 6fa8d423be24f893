"""Replay over HTTP: a real room recorded by the real recorder, then read back.

One room talks for about 12 s with a chapter in the middle and ends; the
recorder finishes its files. Then, against the gateway: exact byte ranges,
416s, `If-Range`, ffmpeg seeking into the middle over HTTP, who may hear an
unpublished recording, a clip, the manifest rebuilt from the logs equal to the
agent's, and a delete that leaves nothing in the object store.
"""

import asyncio
import io
import json
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest

from infra.localstack import Stack
from infra.replay import replay_manifest
from schemas.recording import prefix, recording_id_for
from tests.conftest import RecorderProcess
from tests.media_clients import act, dev_token, live_room, speech_packets, talking

pytestmark = pytest.mark.slow

TALK_SECONDS = 12.0
QUIET_START = 2.0


async def ready(http: aiohttp.ClientSession, token: str, recording_id: uuid.UUID) -> dict[str, Any]:
    """The recording's view once its files are finished."""
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(300):
        async with http.get(f"/v1/recordings/{recording_id}", headers=headers) as r:
            if r.status == 200:
                view: dict[str, Any] = await r.json()
                if view["status"] == "ready":
                    return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"recording {recording_id} never got ready")


@pytest.fixture(scope="module")
def recorded(
    stack: Stack, recorder: RecorderProcess, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A finished recording: (room id, host token, view)."""

    async def make() -> dict[str, Any]:
        packets = speech_packets(
            tmp_path_factory.mktemp("rec-api"), "Welcome to the replay test. We will be brief."
        )
        async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
            room_id, token = await live_room(http, "rec-host", title="Replay me")
            await asyncio.sleep(QUIET_START)  # nobody on stage yet: the room's clock runs on
            async with talking(http, room_id, "rec-host", packets):
                await asyncio.sleep(TALK_SECONDS / 2)
                async with http.post(
                    f"/v1/rooms/{room_id}/chapters",
                    json={"title": "Second half"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    assert r.status == 201, await r.text()
                await asyncio.sleep(TALK_SECONDS / 2)
            await act(http, token, "POST", f"/v1/rooms/{room_id}/end")
            view = await ready(http, token, recording_id_for(room_id))
            listener = await dev_token(http, "rec-listener")
            return {"room_id": room_id, "token": token, "view": view, "listener": listener}

    return asyncio.run(make())


def stored(stack: Stack, key: str) -> bytes:
    return (stack.data_dir / "objects" / key).read_bytes()


def object_key(view: dict[str, Any], which: str = "opus") -> str:
    rid = view["recording_id"]
    return f"{prefix(uuid.UUID(rid))}audio.{which}"


def rms_at(ogg: bytes, start: float, end: float) -> float:
    """RMS of the decoded recording between two offsets, in seconds."""
    with av.open(io.BytesIO(ogg), mode="r") as container:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    window = pcm[int(start * 48000) : int(end * 48000)].astype(np.float64)
    return float(np.sqrt(np.mean(window**2))) if len(window) else 0.0


def test_speech_is_where_the_turns_say(stack: Stack, recorded: dict[str, Any]) -> None:
    view = recorded["view"]
    ogg = stored(stack, object_key(view))
    turn = view["turns"][0]
    quiet = rms_at(ogg, 0.0, turn["start"] - 0.3)
    talking = rms_at(ogg, turn["start"], turn["start"] + 1.0)
    assert talking > 0.01 and quiet < talking / 30, (quiet, talking, view["turns"])


def test_the_manifest_names_the_files_the_chapter_and_the_turns(recorded: dict[str, Any]) -> None:
    view = recorded["view"]
    assert view["title"] == "Replay me" and not view["published"]
    assert [c["title"] for c in view["chapters"]] == ["Second half"]
    assert TALK_SECONDS / 2 - 2 < view["chapters"][0]["offset_seconds"] < TALK_SECONDS / 2 + 3
    assert view["turns"] and all(t["user_id"] == "rec-host" for t in view["turns"])
    assert view["audio"]["url"].endswith("/audio") and view["podcast"]["url"].endswith("m4a")
    started, ended = (datetime.fromisoformat(view[k]) for k in ("started_at", "ended_at"))
    live = (ended - started).total_seconds()
    assert live > TALK_SECONDS + QUIET_START
    # the file's timeline is the room's: the quiet start is in it, as silence
    assert abs(view["duration_seconds"] - live) <= 0.01 * live, (view["duration_seconds"], live)
    first_turn = view["turns"][0]["start"]
    assert QUIET_START - 0.5 < first_turn < QUIET_START + 2.0, view["turns"]


async def test_ranges_return_exactly_the_stored_bytes(
    stack: Stack, http: aiohttp.ClientSession, recorded: dict[str, Any]
) -> None:
    view, token = recorded["view"], recorded["token"]
    whole = stored(stack, object_key(view))
    size = len(whole)
    url = f"/v1/recordings/{view['recording_id']}/audio"
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(url, headers=auth) as r:
        assert r.status == 200 and await r.read() == whole
        assert r.headers["Accept-Ranges"] == "bytes" and r.headers["Content-Type"] == "audio/ogg"
        etag = r.headers["ETag"]
    for header, start, end in [
        ("bytes=100-1099", 100, 1100),
        (f"bytes={size - 10}-", size - 10, size),
        ("bytes=-500", size - 500, size),
        (f"bytes=0-{size * 2}", 0, size),
    ]:
        async with http.get(url, headers={**auth, "Range": header}) as r:
            assert r.status == 206, header
            assert await r.read() == whole[start:end], header
            assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
            assert r.headers["ETag"] == etag
    for header in (f"bytes={size}-", "bytes=9-2", "bytes=x"):
        async with http.get(url, headers={**auth, "Range": header}) as r:
            assert r.status == 416, header
            assert r.headers["Content-Range"] == f"bytes */{size}"
            assert r.headers["Content-Type"] == "application/problem+json"
    async with http.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": etag}) as r:
        assert r.status == 206 and await r.read() == whole[:10]
    async with http.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"old"'}) as r:
        assert r.status == 200 and await r.read() == whole
    podcast = stored(stack, object_key(view, "m4a"))
    async with http.get(f"{url}?format=m4a", headers={**auth, "Range": "bytes=8-15"}) as r:
        assert r.status == 206 and r.headers["Content-Type"] == "audio/mp4"
        assert await r.read() == podcast[8:16]


def probe(url: str) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", url],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def test_ffmpeg_seeks_into_the_middle_over_http(stack: Stack, recorded: dict[str, Any]) -> None:
    view, token = recorded["view"], recorded["token"]
    base = f"{stack.gateway_url}/v1/recordings/{view['recording_id']}/audio?token={token}"
    duration = view["duration_seconds"]
    for url, codec in ((base, "opus"), (f"{base}&format=m4a", "aac")):
        info = probe(url)
        assert info["streams"][0]["codec_name"] == codec
        assert abs(float(info["format"]["duration"]) - duration) < 0.2, (info["format"], duration)
        seek = duration / 2
        pcm = subprocess.run(
            ["ffmpeg", "-v", "error", "-ss", f"{seek:.2f}", "-i", url, "-f", "s16le", "-ac", "1",
             "-ar", "48000", "-"],
            capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        decoded = len(pcm) / 2 / 48000
        assert abs(decoded - (duration - seek)) < 0.3, (codec, decoded, duration - seek)


async def test_an_unpublished_recording_is_the_hosts_until_published(
    http: aiohttp.ClientSession, recorded: dict[str, Any]
) -> None:
    rid, listener = recorded["view"]["recording_id"], recorded["listener"]
    as_listener = {"Authorization": f"Bearer {listener}"}
    async with http.get(f"/v1/recordings/{rid}", headers=as_listener) as r:
        assert r.status == 403 and (await r.json())["code"] == "recording_not_published"
    async with http.get(f"/v1/recordings/{rid}/audio") as r:
        assert r.status == 401
    async with http.post(f"/v1/recordings/{rid}/publish", headers=as_listener) as r:
        assert r.status == 403
    async with http.get(f"/v1/rooms/{recorded['room_id']}/recordings", headers=as_listener) as r:
        assert (await r.json())["items"] == []
    published = await act(http, recorded["token"], "POST", f"/v1/recordings/{rid}/publish")
    assert published["published"]
    async with http.get(f"/v1/recordings/{rid}/audio", headers={"Range": "bytes=0-3"}) as r:
        assert r.status == 206 and await r.read() == b"OggS"  # public now, no token needed
    async with http.get(f"/v1/rooms/{recorded['room_id']}/recordings") as r:
        assert [i["recording_id"] for i in (await r.json())["items"]] == [rid]


async def test_a_clip_is_its_own_file(
    stack: Stack, http: aiohttp.ClientSession, recorded: dict[str, Any]
) -> None:
    rid, token = recorded["view"]["recording_id"], recorded["token"]
    auth = {"Authorization": f"Bearer {token}"}
    body = {"start": 2.0, "end": 5.0, "title": "The welcome"}
    async with http.post(f"/v1/recordings/{rid}/clips", json=body, headers=auth) as r:
        assert r.status == 201, await r.text()
        clip = await r.json()
    # read-your-writes: the page plays a clip the moment it is told about it
    async with http.get(clip["url"], headers={**auth, "Range": "bytes=0-3"}) as r:
        assert r.status == 206 and await r.read() == b"OggS"
    view = await act(http, token, "GET", f"/v1/recordings/{rid}")
    assert [c["clip_id"] for c in view["clips"]] == [clip["clip_id"]]
    for bad in ({"start": 5, "end": 5}, {"start": 1e4, "end": 1e4 + 1}):
        async with http.post(f"/v1/recordings/{rid}/clips", json=bad, headers=auth) as r:
            assert r.status == 422, bad
    info = probe(f"{clip['url']}?token={token}")
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.1, info["format"]


def test_the_manifest_rebuilt_from_the_logs_equals_the_agents(
    stack: Stack, recorded: dict[str, Any]
) -> None:
    """What ``stoa replay --manifest`` does: fold the three logs again, compare."""
    replayed = asyncio.run(replay_manifest(stack.broker.bootstrap, recorded["room_id"]))
    assert replayed.published is not None and replayed.published.web is not None
    assert replayed.rebuilt == replayed.published


async def test_a_deleted_recording_is_gone_with_its_files(
    stack: Stack, http: aiohttp.ClientSession, recorded: dict[str, Any]
) -> None:
    rid, token = recorded["view"]["recording_id"], recorded["token"]
    folder: Path = stack.data_dir / "objects" / prefix(uuid.UUID(rid))
    assert any(folder.rglob("*"))
    async with http.delete(
        f"/v1/recordings/{rid}", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 204
    for path in (f"/v1/recordings/{rid}", f"/v1/recordings/{rid}/audio"):
        async with http.get(path, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 404, path
    assert not [p for p in folder.rglob("*") if p.is_file()]
    async with http.post(
        f"/v1/recordings/{rid}/publish", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 404


async def test_a_room_recorded_off_stores_nothing(
    stack: Stack, http: aiohttp.ClientSession, recorder: RecorderProcess, tmp_path: Path
) -> None:
    token = await dev_token(http, "off-host")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"title": "Off the record", "start_now": True, "recording": False}
    async with http.post("/v1/rooms", json=body, headers=auth) as r:
        room = await r.json()
        assert r.status == 201 and room["recording"] is False
    packets = speech_packets(tmp_path, "Nothing of this is kept.")
    async with talking(http, room["room_id"], "off-host", packets):
        await asyncio.sleep(7.0)  # more than a chunk
    await act(http, token, "POST", f"/v1/rooms/{room['room_id']}/end")
    await asyncio.sleep(2.0)
    folder = stack.data_dir / "objects" / prefix(recording_id_for(room["room_id"]))
    assert not folder.exists() or not any(folder.rglob("*.rec"))
    async with http.get(f"/v1/rooms/{room['room_id']}/recordings", headers=auth) as r:
        assert (await r.json())["items"] == []
