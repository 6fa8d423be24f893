"""Transcripts end to end: segments on ``stoa.transcripts``, the archive's index, search,
a recording's transcript (JSON and WebVTT) and the manifest's links.

A real room is recorded by the stack's recorder and ended; TranscriptSegment events for
it go on the log through LogProducer, as the speech-to-text worker publishes them (one
of them twice, as a redelivery would). The real archiver files them into
``stoa.transcript_segments`` (embedded chDB); the gateway reads them through the
archiver's endpoint. A second room stays live with recording off. Last, the archiver is
killed: the gateway says 503, never 500.
"""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import pytest

from events.archive.remote import RemoteArchive
from events.producer import LogProducer
from infra.localstack import Stack
from schemas import events as e
from schemas.recording import recording_id_for
from schemas.topics import TRANSCRIPTS
from tests.conftest import RecorderProcess
from tests.media_clients import act, dev_token, live_room, speech_packets, talking

pytestmark = pytest.mark.slow

HOST = "tr-host"
WORD = f"zebu{uuid.uuid4().hex[:6]}"
"""A word only this module's rooms say, so the shared stack's other rooms never match."""
LINES = [
    (0.5, 2.0, HOST, f"Good evening and welcome to {WORD} night."),
    (2.0, 3.5, "tr-guest", f"Tonight: JAZZ & {WORD} <standards>."),
    (3.5, 5.0, None, "Applause."),
]


def segment(room_id: str, start: float, end: float, speaker: str | None, text: str) -> e.Event:
    return e.TranscriptSegment(
        event_id=uuid.uuid4(),
        room_id=room_id,
        actor_id="stoa-asr",
        occurred_at=datetime.now(UTC),
        data=e.TranscriptSegmentData(
            segment_id=uuid.uuid4(),
            text=text,
            start_seconds=start,
            end_seconds=end,
            speaker_id=speaker,
            confidence=0.9,
        ),
    )


async def publish_segments(bootstrap: str, room_id: str, events: list[e.Event]) -> None:
    producer = await LogProducer(bootstrap, "test-asr").start()
    try:
        for event in events:
            await producer.send(TRANSCRIPTS.name, room_id, event)
    finally:
        await producer.stop()


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def archiver(stack: Stack) -> Iterator[tuple[Any, RemoteArchive]]:
    """The real archiver on the shared stack, for this module only (chDB: one at a time)."""
    process = stack.start_archiver()
    try:
        yield process, RemoteArchive(stack.archive_url())
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def rooms(
    stack: Stack,
    recorder: RecorderProcess,
    archiver: tuple[Any, RemoteArchive],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """A recorded, ended room with three transcribed lines; a live unrecorded one with one."""

    async def make() -> dict[str, Any]:
        packets = speech_packets(tmp_path_factory.mktemp("tr"), "Good evening and welcome.")
        async with aiohttp.ClientSession(base_url=stack.gateway_url) as http:
            room_id, token = await live_room(http, HOST, title="Zebu night")
            async with talking(http, room_id, HOST, packets):
                await asyncio.sleep(6)
            await act(http, token, "POST", f"/v1/rooms/{room_id}/end")
            rid = recording_id_for(room_id)
            for _ in range(300):
                async with http.get(
                    f"/v1/recordings/{rid}", headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    status = (await r.json()).get("status")
                if status == "ready":
                    break
                await asyncio.sleep(0.1)
            assert status == "ready", "the recording never got ready"
            async with http.post(
                "/v1/rooms",
                json={"title": "Zebu live", "start_now": True, "recording": False},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                assert r.status == 201, await r.text()
                live_id = (await r.json())["room_id"]
            guest = await dev_token(http, "tr-stranger")
        said = [segment(room_id, *line) for line in LINES]
        live = [segment(live_id, 1.0, 2.0, HOST, f"Live {WORD} talk")]
        # the second line twice: a redelivery (same event, same segment)
        await publish_segments(stack.broker.bootstrap, room_id, [*said[:2], said[1], said[2]])
        await publish_segments(stack.broker.bootstrap, live_id, live)
        return {"room_id": room_id, "live_id": live_id, "token": token, "guest": guest,
                "rid": rid, "said": said}  # fmt: skip

    made = asyncio.run(make())
    _, archive = archiver
    sql = "SELECT count() FROM stoa.transcript_segments FINAL WHERE room_id IN {ids:Array(String)}"
    ids = [made["room_id"], made["live_id"]]
    until(lambda: archive.query(sql, {"ids": ids}).rows[0][0] >= 4, "archiving the segments")
    return made


def get(stack: Stack, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{stack.gateway_url}{path}", headers=headers, timeout=30, **kwargs)


def test_each_segment_is_indexed_once_with_a_token_bloom_filter(
    archiver: tuple[Any, RemoteArchive], rooms: dict[str, Any]
) -> None:
    _, archive = archiver
    result = archive.query(
        "SELECT segment_id, start_seconds, end_seconds, speaker_id, text "
        "FROM stoa.transcript_segments FINAL WHERE room_id = {r:String} ORDER BY start_seconds",
        {"r": rooms["room_id"]},
    )
    assert [(r[1], r[2], r[3] or None, r[4]) for r in result.rows] == LINES
    assert [r[0] for r in result.rows] == [str(s.data.segment_id) for s in rooms["said"]]
    index = archive.query(
        "SELECT type, expr FROM system.data_skipping_indices "
        "WHERE database = 'stoa' AND table = 'transcript_segments'"
    )
    assert index.rows == [["tokenbf_v1", "lowerUTF8(text)"]] or index.rows == [
        ("tokenbf_v1", "lowerUTF8(text)")
    ]
    plan = archive.query(
        "EXPLAIN indexes = 1 SELECT text FROM stoa.transcript_segments "
        "WHERE hasToken(lowerUTF8(text), {w:String})",
        {"w": WORD},
    )
    assert any("text_tokens" in str(row[0]) for row in plan.rows), plan.rows


def test_search_finds_every_word_in_any_case_with_offsets_for_a_clip(
    stack: Stack, rooms: dict[str, Any]
) -> None:
    r = get(stack, "/v1/search", rooms["token"], params={"q": f"jazz {WORD.upper()}"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["words"] == ["jazz", WORD] and page["next_offset"] is None
    [hit] = page["items"]
    assert hit["room_id"] == rooms["room_id"] and hit["room_title"] == "Zebu night"
    assert hit["recording_id"] == str(rooms["rid"])  # the host may play it
    assert (hit["start"], hit["end"], hit["speaker_id"]) == (2.0, 3.5, "tr-guest")
    assert hit["text"] == LINES[1][3] and hit["room_status"] == "ended"
    none = get(stack, "/v1/search", params={"q": f"jazz {WORD} trombone"}).json()
    assert none["items"] == []  # every word, not any


def test_search_pages_and_hides_a_private_recording_from_strangers(
    stack: Stack, rooms: dict[str, Any]
) -> None:
    first = get(stack, "/v1/search", rooms["guest"], params={"q": WORD, "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = get(stack, "/v1/search", params={"q": WORD, "limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    hits = first["items"] + rest["items"]
    recorded = [h for h in hits if h["room_id"] == rooms["room_id"]]
    assert [h["start"] for h in recorded] == [0.5, 2.0]  # in time order within a room
    assert all(h["recording_id"] is None for h in recorded)  # not published: not for others
    [live] = [h for h in hits if h["room_id"] == rooms["live_id"]]
    assert live["room_status"] == "live" and live["recording_id"] is None


@pytest.mark.parametrize(("q", "field"), [("", "q"), ("!?  -", "q"), ("x" * 201, "q"), (None, "q")])
def test_a_bad_query_is_a_422_problem(
    stack: Stack, rooms: dict[str, Any], q: str | None, field: str
) -> None:
    r = get(stack, "/v1/search", params={} if q is None else {"q": q})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [err["field"] for err in r.json()["errors"]] == [field]


def test_the_manifest_links_the_transcript_and_its_captions(
    stack: Stack, rooms: dict[str, Any]
) -> None:
    rid = rooms["rid"]
    base = f"{stack.gateway_url}/v1/recordings/{rid}/transcript"
    until(
        lambda: (
            get(stack, f"/v1/recordings/{rid}", rooms["token"]).json()["transcript_segments"] >= 3
        ),
        "the manifest counting the segments",
    )
    time.sleep(0.5)  # had the redelivered segment counted, it would show by now
    view = get(stack, f"/v1/recordings/{rid}", rooms["token"]).json()
    assert view["transcript_segments"] == 3  # the redelivered one counted once
    assert (view["transcript_url"], view["captions_url"]) == (base, f"{base}?format=vtt")


def test_the_transcript_as_json_and_as_webvtt(stack: Stack, rooms: dict[str, Any]) -> None:
    path = f"/v1/recordings/{rooms['rid']}/transcript"
    r = get(stack, path, rooms["token"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["room_id"] == rooms["room_id"]
    got = [(s["start"], s["end"], s["speaker_id"], s["text"]) for s in body["segments"]]
    assert got == LINES
    vtt = get(stack, path, rooms["token"], params={"format": "vtt"})
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    cues = vtt.text.split("\n\n")
    assert cues[0] == "WEBVTT"
    first_id = rooms["said"][1].data.segment_id
    assert cues[2] == (
        f"{first_id}\n00:00:02.000 --> 00:00:03.500\n"
        f"<v tr-guest>Tonight: JAZZ &amp; {WORD} &lt;standards&gt;.</v>"
    )
    assert cues[3].endswith("00:00:03.500 --> 00:00:05.000\nApplause.\n")  # ends with a newline
    accepted = get(stack, path, rooms["token"], headers={"Accept": "text/vtt"})
    assert accepted.status_code == 200 and accepted.text == vtt.text


def test_the_transcript_is_as_private_as_the_recording(stack: Stack, rooms: dict[str, Any]) -> None:
    path = f"/v1/recordings/{rooms['rid']}/transcript"
    assert get(stack, path).status_code == 401
    refused = get(stack, path, rooms["guest"])
    assert refused.status_code == 403 and refused.json()["code"] == "recording_not_published"
    assert get(stack, f"/v1/recordings/{uuid.uuid4()}/transcript").status_code == 404
    published = httpx.post(
        f"{stack.gateway_url}/v1/recordings/{rooms['rid']}/publish",
        headers={"Authorization": f"Bearer {rooms['token']}"},
        timeout=30,
    )
    assert published.status_code == 200, published.text
    assert get(stack, path).status_code == 200
    hit = get(stack, "/v1/search", params={"q": f"jazz {WORD}"}).json()["items"][0]
    assert hit["recording_id"] == str(rooms["rid"])  # published: anyone may play it


def test_without_the_archive_search_and_transcripts_are_a_503_problem(
    stack: Stack, archiver: tuple[Any, RemoteArchive], rooms: dict[str, Any]
) -> None:
    """Killed: its endpoint file stays behind, pointing at nobody (the worst case)."""
    process, _ = archiver
    process.kill()
    process.wait(timeout=10)
    for path, params in (
        ("/v1/search", {"q": WORD}),
        (f"/v1/recordings/{rooms['rid']}/transcript", {}),
    ):
        r = get(stack, path, rooms["token"], params=params)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "archive_unavailable" and r.headers["retry-after"] == "30"
    # the rest of the recording still answers
    assert get(stack, f"/v1/recordings/{rooms['rid']}", rooms["token"]).status_code == 200
