"""Room recorder cost: rooms recorded per core in real time, and finalization time per hour.

(a) **Recording.** ``ROOMS`` rooms share one event loop, as in one recorder
process; every 20 ms each room's sink (``media.recorder_node.RoomRecording``,
the ``FeedSink`` a live room's feed calls) takes that tick's frame: a
listen-protocol record of real Opus (a voice stand-in pre-encoded at
64 kbit/s, ~160 bytes a packet). The sink cuts 5 s chunks and its writer
stores them in a ``file://`` object store (obstore, a temporary directory),
as the recorder does; events go to an in-process log (no broker here). CPU is
the process's own (all threads: obstore's I/O runs in its own), measured
over the run after a warm-up, minus what the same pacing loop costs with no
sink (``idle``). Rooms per core is one second divided by the CPU one
room-second costs. What it leaves out: the WebSocket receive of each
feed (aiohttp) and appending events to the broker.

(b) **Finalization.** An hour of chunks (the same Opus voice looped,
``--quick``: ten minutes, scaled to an hour) is assembled and finished into
the web file (Ogg Opus, remuxed) and the podcast file (decode + AAC encode),
each timed on its own in CPU seconds (and the whole in wall seconds); the
floor beside them is one Opus decode per 20 ms, measured in the same run,
which the podcast file cannot avoid.
"""

import asyncio
import gc
import tempfile
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from infra.objects import ObjectStoreClient, open_store
from media.finalize import podcast_file, web_file
from media.listen import OpusRecord, encode_record
from media.opus import FRAME_SAMPLES, SAMPLE_RATE, OpusDecoder, OpusEncoder
from media.recorder_node import RoomRecording
from media.recording import Chunker, assemble, decode_chunk, encode_chunk
from schemas.events import Event

SOURCE_FRAMES = 500
"""10 s of a voice stand-in, looped."""
TICK = 0.02
WARMUP_SECONDS = 2.0
HOUR_FRAMES = 180_000


def _voice_packets() -> list[bytes]:
    rng = np.random.default_rng(1)
    t = np.arange(SOURCE_FRAMES * FRAME_SAMPLES) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 0.7 * t), 0, None) * (
        0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    )
    tone = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t)
    pcm: npt.NDArray[np.float32] = (
        0.2 * envelope * tone + 0.01 * rng.standard_normal(t.size)
    ).astype(np.float32)
    encoder = OpusEncoder()
    return [encoder.encode(frame) for frame in pcm.reshape(-1, FRAME_SAMPLES)]


class _Log:
    def __init__(self) -> None:
        self.count = 0

    async def emit(self, event: Event) -> None:
        self.count += 1


async def _drive(rooms: int, seconds: float, packets: list[bytes], sink: bool) -> dict[str, Any]:
    """``rooms`` rooms fed one frame each per 20 ms for ``seconds``; CPU and lag measured."""
    with tempfile.TemporaryDirectory(prefix="stoa-bench-recorder-") as folder:
        store = ObjectStoreClient(open_store(f"file://{folder}"))
        log = _Log()
        sinks = (
            [RoomRecording(f"bench-room-{i}", store, log.emit) for i in range(rooms)]
            if sink
            else []
        )
        loop = asyncio.get_running_loop()
        warmup = int(WARMUP_SECONDS / TICK)
        ticks = warmup + int(seconds / TICK)
        next_at = loop.time()
        late = 0
        cpu_start = wall_start = 0.0
        for seq in range(ticks):
            if seq == warmup:
                gc.collect()
                cpu_start, wall_start = time.process_time(), time.monotonic()
            record = [
                (seq, encode_record(seq, time.time_ns() // 1000, packets[seq % len(packets)]))
            ]
            for room in sinks:
                room.records(record)
            next_at += TICK
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif seq >= warmup:
                late += 1
        cpu = time.process_time() - cpu_start
        wall = time.monotonic() - wall_start
        queued = sum(room.queued for room in sinks)
        for room in sinks:
            await room.close()
        writes = sum(room.writes for room in sinks)
    return {"cpu": cpu, "wall": wall, "late_ticks": late, "writes": writes, "queued_at_end": queued}


def _hour_chunks(frames: int, packets: list[bytes]) -> dict[int, bytes]:
    chunker, chunks = Chunker(), {}
    for seq in range(frames):
        record = OpusRecord(seq, 1_800_000_000_000_000 + seq * 20_000, packets[seq % len(packets)])
        for chunk in chunker.push(record):
            chunks[chunk.index] = encode_chunk(chunk)
    pending = chunker.pending()
    if pending is not None:
        chunks[pending.index] = encode_chunk(pending)
    return chunks


def _finalize(frames: int, packets: list[bytes]) -> dict[str, float]:
    chunks = _hour_chunks(frames, packets)
    clock = time.process_time  # CPU, not wall: a shared machine's other work does not count
    wall_start, started = time.perf_counter(), clock()
    timeline = assemble(decode_chunk(data, index) for index, data in chunks.items())
    assembled = clock()
    web = web_file(timeline)
    webbed = clock()
    podcast = podcast_file(web, timeline.frames)
    done, wall = clock(), time.perf_counter() - wall_start
    scale = HOUR_FRAMES / frames
    decoder = OpusDecoder()
    floor_start = clock()
    for packet in packets * 4:
        decoder.decode(packet)
    decode_us = (clock() - floor_start) / (4 * len(packets)) * 1e6
    return {
        "finalize_audio_seconds": frames * TICK,
        "assemble_s_per_hour": (assembled - started) * scale,
        "web_file_s_per_hour": (webbed - assembled) * scale,
        "podcast_file_s_per_hour": (done - webbed) * scale,
        "finalize_wall_s_per_hour": wall * scale,
        "web_file_mb_per_hour": len(web) * scale / 1e6,
        "podcast_file_mb_per_hour": len(podcast) * scale / 1e6,
        "opus_decode_floor_us": decode_us,
        "podcast_decode_floor_s_per_hour": decode_us * HOUR_FRAMES / 1e6,
    }


def run(quick: bool = False) -> dict[str, Any]:
    packets = _voice_packets()
    rooms, seconds = (50, 5.0) if quick else (200, 20.0)
    idle = asyncio.run(_drive(rooms, seconds, packets, sink=False))
    busy = asyncio.run(_drive(rooms, seconds, packets, sink=True))
    room_seconds = rooms * busy["wall"]
    per_room_second = max(busy["cpu"] - idle["cpu"] * busy["wall"] / idle["wall"], 1e-9)
    per_room_second /= room_seconds
    gross = busy["cpu"] / room_seconds
    figures: dict[str, Any] = {
        "rooms": rooms,
        "seconds": round(busy["wall"], 2),
        "cpu_share_recording": busy["cpu"] / busy["wall"],
        "cpu_share_idle_loop": idle["cpu"] / idle["wall"],
        "cpu_us_per_room_second": per_room_second * 1e6,
        "cpu_us_per_frame": per_room_second * 1e6 / 50,
        "rooms_per_core": 1.0 / per_room_second,
        "rooms_per_core_with_loop": 1.0 / gross,
        "late_ticks": busy["late_ticks"],
        "chunk_writes": busy["writes"],
        "chunks_queued_at_end": busy["queued_at_end"],
    }
    figures.update(_finalize(HOUR_FRAMES // 6 if quick else HOUR_FRAMES, packets))
    return figures
