"""The speech-to-text worker keeps every room going when one room's audio or engine fails.

A real worker (in this process, on the test stack's broker) consumes real
``stoa.room-audio`` records for three rooms: one with clear speech, one whose
engine raises on its first pass (it must report ``failed``, restart that room's
stream and caption it after all), and one with a record that is not the listen
protocol (it must be dead-lettered, not crash the worker).
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from events.producer import LogProducer
from infra.localstack import Stack
from media import clients
from media.asr.engines import Engine, load_engine
from media.asr.transcriber import Audio, Result, Segment, Transcriber
from media.asr.worker import AsrWorker
from media.audio_out import talking_header
from media.listen import encode_record
from schemas.topics import CAPTIONS, DEAD_LETTER, ROOM_AUDIO
from tests.kafka_client import consume, consume_json
from tests.media_clients import speech_wav

TEXT = "Please open the window before the meeting starts."


class Exploding:
    """An engine that fails: what a crash inside CTranslate2 looks like from the worker."""

    def feed(self, pcm: Audio) -> list[Result]:
        raise RuntimeError("the engine exploded")

    def flush(self) -> list[Segment]:
        return []


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine("whisper")


@pytest_asyncio.fixture(loop_scope="session")
async def producer(stack: Stack) -> AsyncIterator[LogProducer]:
    started = await LogProducer(stack.broker.bootstrap, "test-room-audio").start()
    yield started
    await started.stop()


async def send_speech(producer: LogProducer, room_id: str, wav: Path, first_seq: int = 0) -> None:
    """The room's mix as the mixing node appends it: 10 frames a record, the speaker talking."""
    packets = [p for p in clients.encode_packets(clients.read_pcm(str(wav))) if p is not None]
    for n in range(0, len(packets), 10):
        start = first_seq + n
        value = b"".join(encode_record(start + i, 0, p) for i, p in enumerate(packets[n : n + 10]))
        headers = [("talking", talking_header([(start, ["ann"])]))]
        await producer.send(ROOM_AUDIO.name, room_id, value, headers=headers)
    await producer.send(ROOM_AUDIO.name, room_id, b"", headers=[("end", b"1")])


def of_room(messages: list[dict[str, Any]], room_id: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["key"] == room_id]


async def test_an_engine_crash_or_bad_audio_in_one_room_never_stops_the_others(
    stack: Stack, engine: Engine, producer: LogProducer, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    good, crash, bad = f"good-{run}", f"crash-{run}", f"bad-{run}"
    crashed: set[str] = set()

    def open_transcriber(room_id: str) -> Transcriber:
        if room_id == crash and room_id not in crashed:
            crashed.add(room_id)
            return Exploding()
        return engine.open()

    # a group of its own: the stack's worker processes in other modules never wait for it
    worker = AsrWorker(
        stack.broker.bootstrap, open_transcriber, None, {}, f"asr-test-{run}", f"asr-test-{run}"
    )
    await worker.start()
    try:
        wav = speech_wav(tmp_path / "s.wav", TEXT, "en", 50, [])
        await asyncio.sleep(3)  # the group has formed and the worker reads from the end
        await producer.send(ROOM_AUDIO.name, bad, b"\x01\x00not the listen protocol")
        await send_speech(producer, good, wav)
        await send_speech(producer, crash, wav)

        async def said() -> list[dict[str, Any]]:
            records = await asyncio.to_thread(consume, stack.broker.bootstrap, CAPTIONS.name)
            return [{"key": r["key"], "value": json.loads(r["payload"])} for r in records]

        async def until(done: Any) -> list[dict[str, Any]]:
            deadline = time.monotonic() + 60
            while not done(found := await said()) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            return found

        await until(lambda f: any(m["value"].get("status") == "failed" for m in f))
        await send_speech(producer, crash, wav, first_seq=10_000)  # after the failure
        found = await until(
            lambda f: {good, crash} <= {m["key"] for m in f if m["value"].get("final")}
        )
        good_text = " ".join(
            m["value"]["text"] for m in of_room(found, good) if "text" in m["value"]
        )
        assert "window" in good_text.lower(), good_text
        crash_said = of_room(found, crash)
        statuses = [
            m["value"].get("status") for m in crash_said if m["value"]["type"] == "captions"
        ]
        assert "failed" in statuses, crash_said
        failed = next(m["value"] for m in crash_said if m["value"].get("status") == "failed")
        assert "exploded" in failed["reason"], failed
        assert any(m["value"].get("final") for m in crash_said), crash_said
        assert worker.dead_letters == 1
        letters = await asyncio.to_thread(consume_json, stack.broker.bootstrap, DEAD_LETTER.name)
        mine = [d for d in letters if d.get("key") == bad]
        assert mine and mine[0]["source_topic"] == ROOM_AUDIO.name, letters[-3:]
    finally:
        await worker.stop()
