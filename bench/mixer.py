"""Room mixing cost: decode + mix + limit + encode per 20 ms tick, on one core.

One room of 10 speakers, all talking, and one of 10 speakers of whom 3 talk
and 7 send nothing; then both again with every speaker also listening, so the
mixer encodes a mix-minus stream for each of them (the price of speakers not
hearing themselves). Every speaker's audio is real Opus (a distinct tone under
noise, pre-encoded at 64 kbit/s before timing starts); each tick pushes one
packet per talking speaker into ``RoomMixer`` and mixes one frame, in this one
thread, as the SFU does. Rooms per core is 20 ms divided by the CPU time one
tick takes (process CPU time, so other work on a shared machine does not count
against us); the per-tick percentiles are wall time.
"""

import gc
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.stats import percentile
from media.mixer import RoomMixer
from media.opus import FRAME_SAMPLES, FRAME_US, SAMPLE_RATE, OpusDecoder, OpusEncoder

SPEAKERS = 10
SOURCE_FRAMES = 150  # 3 s of audio per speaker, looped
WARMUP_TICKS = 100


def _voice(index: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A speaker's stand-in: a tone with a syllable-rate wobble, under noise."""
    t = np.arange(SOURCE_FRAMES * FRAME_SAMPLES) / SAMPLE_RATE
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + index)
    tone = np.sin(2 * np.pi * (140.0 + 37.0 * index) * t)
    noise = rng.standard_normal(t.size) * 0.05
    return (0.12 * envelope * tone + noise * 0.12).astype(np.float32)


def _packets(voices: list[npt.NDArray[np.float32]]) -> list[list[bytes]]:
    out = []
    for voice in voices:
        encoder = OpusEncoder(application="voip")
        out.append([encoder.encode(frame) for frame in voice.reshape(-1, FRAME_SAMPLES)])
    return out


def _room(
    packets: list[list[bytes]], talking: int, ticks: int, listening: int = 0
) -> dict[str, float]:
    mixer = RoomMixer()
    ids = [f"speaker-{i}" for i in range(SPEAKERS)]
    for speaker_id in ids:
        mixer.add_speaker(speaker_id)
    for speaker_id in ids[:listening]:
        mixer.set_listening(speaker_id, True)
    wall: list[float] = []
    cpu_start = 0.0
    for n in range(WARMUP_TICKS + ticks):
        if n == WARMUP_TICKS:
            cpu_start = time.process_time()
        started = time.perf_counter()
        capture = n * FRAME_US
        for i in range(talking):
            payload = packets[i][n % SOURCE_FRAMES]
            mixer.push(ids[i], n, n * FRAME_SAMPLES, payload, capture)
        mixer.tick()
        if n >= WARMUP_TICKS:
            wall.append((time.perf_counter() - started) * 1e6)
    cpu_us = (time.process_time() - cpu_start) * 1e6 / ticks
    return {
        "p50_us": percentile(wall, 50),
        "p99_us": percentile(wall, 99),
        "cpu_us": cpu_us,
        "rooms_per_core": FRAME_US / cpu_us,
    }


def _codec_us(packets: list[bytes], frames: npt.NDArray[np.float32]) -> dict[str, float]:
    """CPU time of one decode, and of one encode at complexity 10 (used) and 6 (an option)."""
    decoder = OpusDecoder()
    for payload in packets:  # warm up
        decoder.decode(payload)
    rounds = 10 * len(packets)
    started = time.process_time()
    for n in range(rounds):
        decoder.decode(packets[n % len(packets)])
    figures = {"decode_cpu_us": (time.process_time() - started) * 1e6 / rounds}
    for complexity, key in ((10, "encode_cpu_us"), (6, "encode_complexity6_cpu_us")):
        encoder = OpusEncoder(complexity=complexity)
        for frame in frames:  # warm up
            encoder.encode(frame)
        started = time.process_time()
        for n in range(rounds):
            encoder.encode(frames[n % len(frames)])
        figures[key] = (time.process_time() - started) * 1e6 / rounds
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    ticks = 500 if quick else 3000
    rng = np.random.default_rng(7)
    voices = [_voice(i, rng) for i in range(SPEAKERS)]
    packets = _packets(voices)
    figures: dict[str, Any] = {"ticks_per_case": ticks, "speakers": SPEAKERS}
    gc.collect()
    for talking in (SPEAKERS, 3):
        for key, value in _room(packets, talking, ticks).items():
            figures[f"talking{talking}_{key}"] = value
    for talking in (SPEAKERS, 3):  # every speaker also listening: one mix-minus each
        for key, value in _room(packets, talking, ticks, listening=SPEAKERS).items():
            figures[f"talking{talking}_minus{SPEAKERS}_{key}"] = value
    figures.update(_codec_us(packets[0], voices[0].reshape(-1, FRAME_SAMPLES)))
    return figures
