"""One room's speech-to-text stream: attribution, the room clock, holes, and the audio topic's
talking header, with the real default engine on espeak-ng speech sent as Opus records."""

from pathlib import Path

import numpy as np
import pytest

from media import clients
from media.asr.attribution import Turns
from media.asr.engines import Engine, load_engine
from media.asr.room_stream import Final, RoomStream
from media.audio_out import parse_talking, talking_header
from media.listen import OpusRecord
from tests.media_clients import speech_wav


def test_the_speaker_who_talked_most_in_a_span_is_the_one_credited() -> None:
    turns = Turns()
    turns.add(0, ["ann"])  # ann from 0 s
    turns.add(100, ["ann", "ben"])  # both from 2 s
    turns.add(150, ["ben"])  # ben alone from 3 s
    turns.add(300, [])  # nobody from 6 s
    assert turns.speaker(0.0, 1.5) == "ann"
    assert turns.speaker(2.0, 5.0) == "ben"  # ben 3 s, ann 1 s
    assert turns.speaker(1.0, 3.0) == "ann"  # ann 2 s, ben 1 s
    assert turns.speaker(6.5, 8.0) is None
    assert turns.speaker(2.0, 3.0) == "ann"  # a tie goes to who started first
    turns.add(200, ["carl"])  # out of order: ignored
    assert turns.speaker(4.0, 5.0) == "ben"


def test_turns_older_than_the_window_are_forgotten() -> None:
    turns = Turns(keep_seconds=10.0)
    for n in range(100):
        turns.add(n * 100, [f"s{n % 2}"])
    assert len(turns.seqs) <= 7
    assert turns.speaker(99 * 2.0, 99 * 2.0 + 1) == "s1"


def test_the_talking_header_round_trips_and_malformed_reads_as_nobody() -> None:
    talking = [(10, ["ann"]), (15, ["ann", "ben"]), (19, [])]
    assert parse_talking(talking_header(talking)) == talking
    assert parse_talking(b"{not json") == []
    assert parse_talking(None) == []


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine("whisper")


def records_of(wav: Path, first_seq: int) -> list[OpusRecord]:
    packets = clients.encode_packets(clients.read_pcm(str(wav)))
    return [
        OpusRecord(first_seq + i, 0, packet)
        for i, packet in enumerate(packets)
        if packet is not None
    ]


def run(
    stream: RoomStream, records: list[OpusRecord], talking: list[tuple[int, list[str]]]
) -> list[Final]:
    """The worker's loop over 200 ms records: take, transcribe, and finish at the end."""
    finals: list[Final] = []
    for start in range(0, len(records), 10):
        batch = records[start : start + 10]
        hole = stream.take(batch, talking if start == 0 else [])
        if hole is not None:
            finals += stream.finish()
            stream.restart(hole)
            stream.take(batch, [])
        finals += stream.transcribe()[1]
    return finals + stream.finish()


def test_finals_are_on_the_room_clock_and_credited_to_who_was_talking(
    engine: Engine, tmp_path: Path
) -> None:
    wav = speech_wav(tmp_path / "s.wav", "Open the window before the meeting starts.", "en", 50, [])
    first_seq = 5_000  # the room started 100 s before this speech
    records = records_of(wav, first_seq)
    stream = RoomStream("r1", engine.open)
    finals = run(stream, records, [(first_seq, ["ann"])])
    assert finals, "no final from clear speech"
    text = " ".join(f.caption.text for f in finals).lower()
    assert "window" in text and "meeting" in text, text
    for final in finals:
        caption = final.caption
        assert 100.0 <= caption.start < caption.end <= 100.0 + len(records) * 0.02 + 0.5, caption
        assert caption.speaker_id == "ann"
        assert final.confidence is not None and 0 < final.confidence <= 1


def test_a_long_hole_ends_the_stream_and_the_next_starts_at_its_seq(
    engine: Engine, tmp_path: Path
) -> None:
    wav = speech_wav(tmp_path / "s.wav", "The river is calm this morning.", "en", 50, [])
    first = records_of(wav, 0)
    later_seq = len(first) + 1_000  # 20 s of nothing: the stage was empty
    second = records_of(wav, later_seq)
    stream = RoomStream("r2", engine.open)
    finals = run(stream, first + second, [(0, ["ann"]), (later_seq, ["ben"])])
    early = [f.caption for f in finals if f.caption.end <= len(first) * 0.02 + 0.5]
    late = [f.caption for f in finals if f.caption.start >= later_seq * 0.02 - 0.1]
    assert early and late, [f.caption for f in finals]
    assert {c.speaker_id for c in early} == {"ann"}
    assert {c.speaker_id for c in late} == {"ben"}
    assert "river" in " ".join(c.text for c in late).lower()


def test_a_short_hole_is_silence_and_keeps_the_clock(engine: Engine) -> None:
    stream = RoomStream("r3", engine.open)
    packets = clients.encode_packets(np.zeros(48_000, dtype=np.float32))
    records = [OpusRecord(i, 0, p) for i, p in enumerate(packets) if p is not None]
    assert stream.take(records[:10], []) is None
    assert stream.take(records[20:30], []) is None  # 10 frames missing: filled
    assert stream.held_seconds == pytest.approx(30 * 0.02, abs=0.02)
    assert stream.take(records[10:15], []) is None  # late duplicates are dropped
    assert stream.held_seconds == pytest.approx(30 * 0.02, abs=0.02)
