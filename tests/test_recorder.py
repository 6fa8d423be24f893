"""The recorder's pure parts and its per-room sink, without a broker: chunks, files, clips.

Synthetic rooms are made of real Opus packets (a tone where someone "talks",
nothing where the room had no audio); the finished files are checked with
FFmpeg's ``ffprobe`` (an independent reader) and decoded with PyAV, so the
tests see what a player would: where the sound is on the room's clock.
"""

import asyncio
import contextlib
import io
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp import web

from infra.broker import free_port
from infra.objects import ObjectStoreClient, open_store
from infra.settings import Settings
from media.finalize import cut_clip, delete_recording, finalize, pre_skip
from media.listen import OpusRecord, encode_record, room_message
from media.opus import OpusEncoder
from media.recorder_node import RecorderNode, RecorderRoom, RoomRecording
from media.recording import (
    SILENT_FRAME,
    Chunk,
    Chunker,
    ChunkError,
    assemble,
    chunk_index_of,
    decode_chunk,
    encode_chunk,
    finished_key,
    merge,
    recording_finished,
    recording_started,
    segment_stored,
)
from schemas.events import Event, RecordingFinished, RecordingSegmentStored, RecordingStarted
from schemas.recording import (
    CHUNK_FRAMES,
    chunk_key,
    clip_key,
    podcast_key,
    prefix,
    recording_id_for,
    web_key,
)
from schemas.room import RoomState

T0 = 1_800_000_000_000_000
"""Capture time (µs since the epoch) of seq 0."""
Pcm = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def tone() -> list[bytes]:
    """Two seconds of 20 ms Opus packets of a 440 Hz tone, looped by ``record``."""
    encoder = OpusEncoder()
    t = np.arange(100 * 960) / 48000
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return [encoder.encode(pcm[i * 960 : (i + 1) * 960]) for i in range(100)]


def record(seq: int, packets: list[bytes]) -> OpusRecord:
    return OpusRecord(seq, T0 + seq * 20_000, packets[seq % len(packets)])


def cut(seqs: list[int] | range, packets: list[bytes]) -> dict[int, Chunk]:
    """The chunks a recorder would store for ``seqs`` (the last partial one included)."""
    chunker, chunks = Chunker(), {}
    for seq in seqs:
        for chunk in chunker.push(record(seq, packets)):
            chunks[chunk.index] = chunk
    pending = chunker.pending()
    if pending is not None:
        chunks[pending.index] = pending
    return chunks


def decode(data: bytes) -> Pcm:
    """Every sample of an audio file, as float32 mono at 48 kHz."""
    with av.open(io.BytesIO(data), "r") as container:
        parts = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    pcm = np.concatenate(parts).astype(np.float32)
    return pcm


def rms_per_frame(pcm: Pcm) -> Pcm:
    frames = len(pcm) // 960
    return np.sqrt((pcm[: frames * 960].reshape(frames, 960) ** 2).mean(axis=1))


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


def ffmpeg_decodes(path: Path) -> None:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr


# --- framing ----------------------------------------------------------------


def test_a_chunk_round_trips_through_its_framing(tone: list[bytes]) -> None:
    chunk = cut(range(250, 500), tone)[1]
    data = encode_chunk(chunk)
    assert decode_chunk(data, 1) == chunk
    assert chunk.complete and chunk.start_seconds == 5.0 and chunk.duration_seconds == 5.0


def test_a_chunk_past_the_wire_seq_wrap_keeps_its_seqs(tone: list[bytes]) -> None:
    index = (1 << 32) // CHUNK_FRAMES + 3  # a room ~2.7 years long: wire seqs wrapped
    first = index * CHUNK_FRAMES
    chunk = Chunk(index, tuple(record(s, tone) for s in range(first, first + 10)))
    assert decode_chunk(encode_chunk(chunk), index) == chunk


def test_a_damaged_or_misplaced_chunk_is_refused(tone: list[bytes]) -> None:
    data = encode_chunk(cut(range(250, 300), tone)[1])
    for bad, index in ((data, 2), (data[:-3], 1), (b"garbage" + data, 1), (b"", 1)):
        with pytest.raises(ChunkError):
            decode_chunk(bad, index)
    out_of_window = encode_chunk(Chunk(0, (record(300, tone),)))
    with pytest.raises(ChunkError):
        decode_chunk(out_of_window, 0)
    backwards = encode_chunk(Chunk(0, (record(5, tone), record(4, tone))))
    with pytest.raises(ChunkError):
        decode_chunk(backwards, 0)


def test_chunk_keys_name_their_index() -> None:
    rid = recording_id_for("room-1")
    assert chunk_index_of(chunk_key(rid, 12)) == 12
    assert chunk_index_of(f"{prefix(rid)}audio.opus") is None


# --- cutting and assembling -------------------------------------------------


def test_a_chunk_is_complete_at_its_last_seq_or_when_a_later_one_comes(tone: list[bytes]) -> None:
    chunker = Chunker()
    done = [c for seq in range(0, 249) for c in chunker.push(record(seq, tone))]
    assert done == []
    [first] = chunker.push(record(249, tone))
    assert first.index == 0 and first.complete
    assert chunker.push(record(260, tone)) == []
    assert chunker.push(record(250, tone)) == []  # older than what was taken: ignored
    [partial] = chunker.push(record(1300, tone))  # the room skipped ahead four chunks
    assert (partial.index, partial.frames, partial.end_seq) == (1, 1, 261)
    pending = chunker.pending()
    assert pending is not None and (pending.index, pending.frames) == (5, 1)
    # two windows closed by one frame: the one pending, and the one this frame completes
    chunker = Chunker()
    chunker.push(record(10, tone))
    assert [c.index for c in chunker.push(record(CHUNK_FRAMES * 3 - 1, tone))] == [0, 2]


def test_merging_keeps_every_frame_of_both(tone: list[bytes]) -> None:
    stored = Chunk(0, tuple(record(s, tone) for s in range(0, 100)))
    later = Chunk(0, tuple(record(s, tone) for s in range(50, 250)))
    merged = merge(stored, later)
    assert [r.seq for r in merged.records] == list(range(250))
    with pytest.raises(ValueError):
        merge(stored, Chunk(1, ()))


def test_assembly_fills_every_missing_seq_with_silence_on_the_rooms_clock(
    tone: list[bytes],
) -> None:
    # audio from seq 100 (2 s in), chunk 2 lost, frames 760..779 never heard
    seqs = [s for s in range(100, 1100) if not 760 <= s < 780]
    chunks = cut(seqs, tone)
    del chunks[2]
    timeline = assemble(chunks.values())
    assert timeline.frames == 1100 and timeline.duration_seconds == pytest.approx(22.0)
    assert timeline.missing == 100 + 250 + 20
    assert timeline.missing_seconds == pytest.approx(7.4)
    payloads = list(timeline.payloads())
    assert len(payloads) == 1100
    assert payloads[99] == SILENT_FRAME and payloads[100] == tone[0]
    assert payloads[499] == tone[99] and payloads[500] == SILENT_FRAME
    assert payloads[765] == SILENT_FRAME and payloads[780] == tone[80]


# --- the finished files -----------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tone: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 20 s room: the tone from 2 s, chunk 2 (10 to 15 s) lost, finalized to both files."""
    seqs = [s for s in range(100, 1000) if not 500 <= s < 750]
    stored = {i: encode_chunk(c) for i, c in cut(seqs, tone).items()}
    finished = finalize(stored)
    assert finished is not None
    folder = tmp_path_factory.mktemp("recording")
    (folder / "audio.opus").write_bytes(finished.web)
    (folder / "audio.m4a").write_bytes(finished.podcast)
    return {"finished": finished, "folder": folder}


def test_both_files_are_valid_and_last_as_long_as_the_room(synthetic: dict[str, Any]) -> None:
    folder: Path = synthetic["folder"]
    web = probe(folder / "audio.opus")
    assert web["format"]["format_name"] == "ogg"
    [stream] = web["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("opus", "48000", 1)
    assert float(web["format"]["duration"]) == pytest.approx(20.0, abs=0.01)
    podcast = probe(folder / "audio.m4a")
    assert podcast["format"]["tags"]["major_brand"] == "M4A "
    [stream] = podcast["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("aac", "48000", 1)
    assert float(podcast["format"]["duration"]) == pytest.approx(20.0, abs=0.01)
    assert 40_000 <= int(stream["bit_rate"]) <= 80_000
    data = (folder / "audio.m4a").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "moov is not first: no fast start"
    ffmpeg_decodes(folder / "audio.opus")
    ffmpeg_decodes(folder / "audio.m4a")


def test_the_web_file_is_the_rooms_own_packets_at_their_seqs(
    synthetic: dict[str, Any], tone: list[bytes]
) -> None:
    """No re-encode: packet n of the file is seq n's packet (or the silent frame)."""
    with av.open(io.BytesIO(synthetic["finished"].web), "r") as container:
        stream = container.streams.audio[0]
        skip = pre_skip(bytes(stream.codec_context.extradata or b""))
        packets = [(p.pts, bytes(p)) for p in container.demux(stream) if p.pts is not None]
    assert len(packets) == 1000
    assert [(pts + skip) // 960 for pts, _ in packets] == list(range(1000))
    assert packets[100][1] == tone[0] and packets[499][1] == tone[99]
    assert {payload for _, payload in packets[500:750]} == {SILENT_FRAME}
    assert synthetic["finished"].timeline.missing_seconds == pytest.approx(2.0 + 5.0)


@pytest.mark.parametrize("name", ["audio.opus", "audio.m4a"])
def test_the_sound_is_where_it_was_in_the_room(synthetic: dict[str, Any], name: str) -> None:
    pcm = decode((synthetic["folder"] / name).read_bytes())
    assert len(pcm) >= 20 * 48000 - 960
    loud = rms_per_frame(pcm) > 0.05  # the tone's RMS is 0.21
    # each edge (2 s, 10 s, 15 s, 20 s) lands within two frames (codec delay, fades)
    assert not loud[:99].any() and loud[102:498].all()
    assert not loud[502:749].any() and loud[752:998].all()


def test_a_room_without_audio_finishes_nothing() -> None:
    assert finalize({}) is None
    assert finalize({0: b"not a chunk"}) is None


def test_an_unreadable_chunk_is_silence_not_a_failure(tone: list[bytes]) -> None:
    stored = {i: encode_chunk(c) for i, c in cut(range(0, 750), tone).items()}
    stored[1] = b"damaged"
    finished = finalize(stored)
    assert finished is not None and finished.unreadable == (1,)
    assert finished.timeline.frames == 750 and finished.timeline.missing == 250


# --- clips ------------------------------------------------------------------


def clip_packets(clip: bytes) -> list[tuple[int, bytes]]:
    with av.open(io.BytesIO(clip), "r") as container:
        stream = container.streams.audio[0]
        skip = pre_skip(bytes(stream.codec_context.extradata or b""))
        return [(p.pts + skip, bytes(p)) for p in container.demux(stream) if p.pts is not None]


def test_a_clip_is_exactly_the_packets_in_its_range_from_time_zero(
    synthetic: dict[str, Any], tone: list[bytes], tmp_path: Path
) -> None:
    web = synthetic["finished"].web
    clip = cut_clip(web, 3.0, 4.5)
    packets = clip_packets(clip)
    assert len(packets) == 75
    assert [t for t, _ in packets] == [n * 960 for n in range(75)]  # from 0, 20 ms apart
    assert packets[0][1] == tone[150 % 100] and packets[-1][1] == tone[224 % 100]
    (tmp_path / "clip.opus").write_bytes(clip)
    assert float(probe(tmp_path / "clip.opus")["format"]["duration"]) == pytest.approx(1.5)
    ffmpeg_decodes(tmp_path / "clip.opus")
    # a bound inside a packet: only packets that start within [start, end) are kept
    inside = clip_packets(cut_clip(web, 3.01, 3.05))
    assert [p for _, p in inside] == [tone[51], tone[52]]
    # a range running past the end keeps what there is
    assert len(clip_packets(cut_clip(web, 19.5, 30.0))) == 25


@pytest.mark.parametrize(
    ("start", "end"),
    [(5.0, 5.0), (6.0, 5.0), (-1.0, 2.0), (20.0, 25.0), (float("nan"), 1.0), (0.0, float("inf"))],
)
def test_an_empty_or_invalid_clip_range_is_refused(
    synthetic: dict[str, Any], start: float, end: float
) -> None:
    with pytest.raises(ValueError):
        cut_clip(synthetic["finished"].web, start, end)


def test_a_clip_of_something_else_is_refused(synthetic: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cut_clip(b"OggS not really", 0.0, 1.0)
    with pytest.raises(ValueError):
        cut_clip(synthetic["finished"].podcast, 0.0, 1.0)


# --- the store --------------------------------------------------------------


def memory_store() -> ObjectStoreClient:
    return ObjectStoreClient(open_store("memory://"))


async def test_deleting_a_recording_deletes_its_objects_and_no_other() -> None:
    store = memory_store()
    rid, other = recording_id_for("room-a"), recording_id_for("room-b")
    keys = [chunk_key(rid, 0), chunk_key(rid, 1), f"{prefix(rid)}audio.opus"]
    keys.append(clip_key(rid, uuid.uuid4()))
    for key in [*keys, chunk_key(other, 0)]:
        await store.put(key, b"x", "application/octet-stream", "no-cache")
    assert await delete_recording(store, rid) == 4
    assert await store.keys(prefix(rid)) == []
    assert await store.keys(prefix(other)) == [chunk_key(other, 0)]
    assert await delete_recording(store, rid) == 0


def test_the_recorders_events_have_ids_that_repeat_with_their_content(tone: list[bytes]) -> None:
    chunk = cut(range(0, 250), tone)[0]
    assert recording_started("r1").event_id == recording_started("r1").event_id
    assert recording_started("r1").event_id != recording_started("r2").event_id
    stored = segment_stored("r1", chunk, 1234)
    assert stored.event_id == segment_stored("r1", chunk, 1234).event_id
    assert stored.data.uri == chunk_key(recording_id_for("r1"), 0)
    fuller = segment_stored("r1", cut(range(0, 100), tone)[0], 99)
    assert fuller.event_id != stored.event_id
    timeline = assemble([chunk])
    finished = recording_finished("r1", timeline, 10, 20)
    assert finished.data.duration_seconds == 5.0 and finished.data.format == "m4a"
    assert finished.event_id == recording_finished("r1", timeline, 10, 20).event_id


# --- the per-room sink ------------------------------------------------------


class Log:
    """What the sink appended, in order (the broker's part, without a broker)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def spans(self) -> list[tuple[int, int]]:
        """``(index, frames from the window's start to its last frame)`` of each chunk stored."""
        return [
            (e.data.index, round(e.data.duration_seconds / 0.02))
            for e in self.events
            if isinstance(e, RecordingSegmentStored)
        ]


def wire(seqs: range | list[int], packets: list[bytes]) -> list[tuple[int, bytes]]:
    """Records as a ``Feed`` hands them on: ``(wire seq, framed bytes)``."""
    out = []
    for seq in seqs:
        r = record(seq, packets)
        out.append((seq & 0xFFFFFFFF, encode_record(r.seq, r.capture_us, r.payload)))
    return out


async def stored_chunk(store: ObjectStoreClient, room_id: str, index: int) -> Chunk:
    data = await store.get(chunk_key(recording_id_for(room_id), index))
    assert data is not None
    return decode_chunk(data, index)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_the_sink_stores_each_chunk_when_its_window_is_over(tone: list[bytes]) -> None:
    store, log = memory_store(), Log()
    sink = RoomRecording("room-s", store, log.emit)
    sink.records(wire(range(40, 600), tone))
    await until(lambda: len(log.events) == 3)
    assert isinstance(log.events[0], RecordingStarted)
    assert log.spans() == [(0, 250), (1, 250)]
    assert (await stored_chunk(store, "room-s", 0)).frames == 210  # seqs 40..249
    await sink.close()  # the room ended: the partial chunk too
    assert log.spans()[-1] == (2, 100)
    assert (await stored_chunk(store, "room-s", 2)).end_seq == 600
    assert sink.resume_at() == 600


async def test_a_restarted_recorder_continues_after_the_stored_chunks(tone: list[bytes]) -> None:
    store, log = memory_store(), Log()
    first = RoomRecording("room-r", store, log.emit)
    first.records(wire(range(0, 760), tone))
    await until(lambda: len(log.spans()) == 3)
    first._writer.cancel()  # SIGKILL: chunk 3 (seqs 750..759) dies with the process
    keys = await store.keys(prefix(recording_id_for("room-r")))
    existing = {i for i in map(chunk_index_of, keys) if i is not None}
    assert existing == {0, 1, 2}
    again = RoomRecording("room-r", store, Log().emit, existing)
    assert again.resume_at() == 3 * CHUNK_FRAMES
    await again.close()


async def test_a_stored_chunk_is_never_replaced_by_one_with_fewer_packets(
    tone: list[bytes],
) -> None:
    store, log = memory_store(), Log()
    earlier = RoomRecording("room-m", store, log.emit)
    earlier.records(wire(range(250, 400), tone))
    await earlier.close()
    assert (await stored_chunk(store, "room-m", 1)).frames == 150
    # a new recorder hears only seqs 450..499 of that chunk (recording back on, say)
    later_log = Log()
    later = RoomRecording("room-m", store, later_log.emit, existing={1})
    later.records(wire(range(450, 500), tone))
    await later.close()
    merged = await stored_chunk(store, "room-m", 1)
    assert [r.seq for r in merged.records] == [*range(250, 400), *range(450, 500)]
    assert not any(isinstance(e, RecordingStarted) for e in later_log.events)
    # nothing new: the stored chunk is left as it is, and nothing is said
    again_log = Log()
    again = RoomRecording("room-m", store, again_log.emit, existing={1})
    again.records(wire(range(300, 320), tone))
    await again.close()
    assert (await stored_chunk(store, "room-m", 1)).frames == 200 and again_log.events == []


async def test_frames_captured_before_recording_was_turned_on_are_dropped(
    tone: list[bytes],
) -> None:
    store, log = memory_store(), Log()
    sink = RoomRecording("room-g", store, log.emit)
    sink.since_us = T0 + 100 * 20_000
    sink.records(wire(range(0, 300), tone))
    await sink.close()
    chunk = await stored_chunk(store, "room-g", 0)
    assert chunk.records[0].seq == 100 and chunk.frames == 150


class FlakyStore(ObjectStoreClient):
    """A memory store whose first ``failures`` puts fail, as a store that is away would."""

    def __init__(self, failures: int) -> None:
        super().__init__(open_store("memory://"))
        self.failures = failures

    async def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the store is away")
        await super().put(key, data, content_type, cache_control)


async def test_a_failed_write_is_retried_until_the_store_takes_it(tone: list[bytes]) -> None:
    store, log = FlakyStore(failures=2), Log()
    sink = RoomRecording("room-f", store, log.emit)
    sink.records(wire(range(0, 250), tone))
    await until(lambda: len(log.spans()) == 1, timeout=5.0)
    assert sink.failures == 2 and (await stored_chunk(store, "room-f", 0)).complete
    await sink.close()


# --- the host's setting, against a stand-in upstream -------------------------


class Upstream:
    """A mixing node's listen route, reduced to what a feed sees: records and the room's end.

    Seqs run ten times faster than the room clock (five per 10 ms), so chunks fill in a
    fraction of a second; capture times are the wall clock, as the mixer stamps them.
    """

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.captures: list[int] = []
        self.ended = False
        self.connections = 0

    async def produce(self) -> None:
        while not self.ended:
            now = time.time_ns() // 1000
            self.captures.extend([now] * 5)
            await asyncio.sleep(0.01)

    async def listen(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        seq = int(request.query.get("from", len(self.captures)))
        while not ws.closed:
            while seq < len(self.captures):
                payload = self.packets[seq % len(self.packets)]
                await ws.send_bytes(encode_record(seq, self.captures[seq], payload))
                seq += 1
            if self.ended:
                await ws.send_str(room_message({"status": "ended"}))
                await ws.close()
                break
            await asyncio.sleep(0.01)
        return ws


class Node:
    """What a ``RecorderRoom`` asks of its recorder node, without the broker."""

    def __init__(self, http: aiohttp.ClientSession, upstream: str, state: RoomState) -> None:
        self.http, self.upstream = http, upstream
        self.store = memory_store()
        self.log = Log()
        self.emit = self.log.emit
        self.states = SimpleNamespace(rooms={state.room_id: state})
        self.outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def relay_token(self) -> str:
        return "relay-token"

    def room_done(self, room: RecorderRoom, ended: bool) -> None:
        self.outcome.set_result(ended)

    def change(self, room: RecorderRoom, **fields: Any) -> None:
        state = self.states.rooms[room.room_id]
        self.states.rooms[room.room_id] = state.model_copy(update=fields)
        room.changed()


@contextlib.asynccontextmanager
async def upstream_node(
    packets: list[bytes], recording: bool
) -> AsyncIterator[tuple[Upstream, Node]]:
    upstream = Upstream(packets)
    app = web.Application()
    app.router.add_get("/v1/rooms/{room_id}/listen", upstream.listen)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    producing = asyncio.create_task(upstream.produce())
    state = RoomState(
        room_id="room-setting",
        host_id="host",
        title="a room",
        status="live",
        recording=recording,
        created_at=datetime.now(UTC),
        started_at=datetime.now(UTC),
    )
    try:
        async with aiohttp.ClientSession() as http:
            yield upstream, Node(http, f"http://127.0.0.1:{port}", state)
    finally:
        upstream.ended = True
        await producing
        await runner.cleanup()


async def stored_records(store: ObjectStoreClient, room_id: str) -> list[OpusRecord]:
    rid = recording_id_for(room_id)
    found: list[OpusRecord] = []
    for key in await store.keys(prefix(rid)):
        index = chunk_index_of(key)
        data = await store.get(key)
        assert index is not None and data is not None
        found.extend(decode_chunk(data, index).records)
    return found


async def test_recording_turned_off_stores_nothing_until_turned_on_again(
    tone: list[bytes],
) -> None:
    async with upstream_node(tone, recording=True) as (upstream, node):
        room = RecorderRoom(node, "room-setting")  # type: ignore[arg-type]
        await asyncio.sleep(0.8)
        off_before = time.time_ns() // 1000
        node.change(room, recording=False)
        await asyncio.sleep(0.05)
        off_after = time.time_ns() // 1000
        await asyncio.sleep(0.8)
        on_before = time.time_ns() // 1000
        node.change(room, recording=True)
        await asyncio.sleep(0.8)
        upstream.ended = True
        assert await asyncio.wait_for(node.outcome, 5.0) is True  # the feed saw the room end
        records = await stored_records(node.store, "room-setting")
    captures = [r.capture_us for r in records]
    assert [r.seq for r in records] == sorted({r.seq for r in records})
    assert upstream.connections == 2
    assert not [c for c in captures if off_after <= c < on_before], "recorded while off"
    assert any(c < off_before - 200_000 for c in captures), "nothing before the setting"
    assert any(c > on_before + 200_000 for c in captures), "nothing after turning it back on"
    assert records[-1].seq >= len(upstream.captures) - 10  # the last partial chunk was written
    assert isinstance(node.log.events[0], RecordingStarted)


async def test_a_room_never_recorded_opens_no_feed_and_stores_nothing(tone: list[bytes]) -> None:
    async with upstream_node(tone, recording=False) as (upstream, node):
        room = RecorderRoom(node, "room-setting")  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        node.change(room, status="ended")
        assert await asyncio.wait_for(node.outcome, 5.0) is True
        assert upstream.connections == 0
        assert await node.store.keys("recordings/") == [] and node.log.events == []


async def test_an_ended_rooms_chunks_are_finished_once_by_whichever_recorder_starts(
    tone: list[bytes],
) -> None:
    """What a recorder starting after a crash does with a room that ended meanwhile."""
    store, log = memory_store(), Log()
    node = RecorderNode(Settings(), "127.0.0.1:9", "http://127.0.0.1:9", "rec-test", store)
    node.emit = log.emit  # type: ignore[method-assign]
    rid = recording_id_for("room-e")
    for index, chunk in cut(range(0, 600), tone).items():
        await store.put(chunk_key(rid, index), encode_chunk(chunk), "x", "no-cache")
    await node._finalize_once("room-e")
    [finished] = log.events
    assert isinstance(finished, RecordingFinished)
    assert finished.data.duration_seconds == 12.0 and finished.data.missing_seconds == 0.0
    web = await store.get(web_key(rid))
    podcast = await store.get(podcast_key(rid))
    assert web is not None and podcast is not None
    assert (finished.data.web_bytes, finished.data.bytes) == (len(web), len(podcast))
    assert await store.get(finished_key(rid)) == finished.model_dump_json().encode()
    await node._finalize_once("room-e")  # a second recorder, or a second look: nothing more
    assert len(log.events) == 1
    await node._finalize_once("room-without-chunks")
    assert len(log.events) == 1
    await node.producer.stop()  # never started: nothing to flush
