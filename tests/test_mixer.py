"""The codec path with the real libopus: Opus round trip, limiter, and the room mixer."""

import math

import numpy as np
import numpy.typing as npt
import pytest

from media.limiter import KNEE, Limiter, dbfs, soft_limit
from media.mixer import MINUS_HANG_TICKS, RoomMixer
from media.opus import FRAME_SAMPLES, SAMPLE_RATE, OpusDecoder, OpusEncoder

Pcm = npt.NDArray[np.float32]
LOOKAHEAD = 312  # libopus encoder delay in samples at 48 kHz
TONES = {"ann": 300.0, "bob": 700.0, "cat": 1300.0}


def sine(freq: float, frames: int, amplitude: float = 0.2, phase: float = 0.0) -> Pcm:
    t = np.arange(frames * FRAME_SAMPLES) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def encode(pcm: Pcm) -> list[bytes]:
    encoder = OpusEncoder(application="voip")
    return [encoder.encode(f) for f in pcm.reshape(-1, FRAME_SAMPLES)]


def decode(packets: list[bytes]) -> Pcm:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(p) for p in packets])


def tone_amplitude(pcm: Pcm, freq: float) -> float:
    """Amplitude of one sinusoid in a Hann-windowed stretch of audio."""
    window = np.hanning(pcm.size)
    n = np.arange(pcm.size)
    projection = np.dot(window * pcm, np.exp(-2j * np.pi * freq * n / SAMPLE_RATE))
    return float(2 * abs(projection) / window.sum())


def mixed_span(decoded: Pcm, first_tick: int, last_tick: int) -> Pcm:
    """The decoded mix of ticks [first_tick, last_tick), skipping the codec delay."""
    return decoded[first_tick * FRAME_SAMPLES + LOOKAHEAD : last_tick * FRAME_SAMPLES + LOOKAHEAD]


# --- Opus ------------------------------------------------------------------


def test_opus_round_trip_keeps_a_sine() -> None:
    source = sine(440.0, 50)
    packets = encode(source)
    assert len(packets) == 50
    decoded = decode(packets)
    assert decoded.dtype == np.float32 and decoded.size == source.size
    a, b = source[FRAME_SAMPLES:-LOOKAHEAD], decoded[FRAME_SAMPLES + LOOKAHEAD :]
    assert np.corrcoef(a, b)[0, 1] > 0.98


def test_a_decoded_frame_stays_intact_while_the_decoder_goes_on() -> None:
    packets = encode(sine(440.0, 10))
    decoder = OpusDecoder()
    first = decoder.decode(packets[5])
    kept = first.copy()
    for packet in packets[6:]:
        decoder.decode(packet)
    decoder.conceal()
    assert np.array_equal(first, kept)


def test_encoder_accepts_int16_frames() -> None:
    source = (sine(440.0, 20) * 32767).astype(np.int16)
    encoder = OpusEncoder()
    packets = [encoder.encode(f) for f in source.reshape(-1, FRAME_SAMPLES)]
    decoded = decode(packets)
    assert tone_amplitude(decoded[FRAME_SAMPLES * 5 :], 440.0) == pytest.approx(0.2, rel=0.1)


def test_encoder_rejects_a_frame_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        OpusEncoder().encode(np.zeros(480, dtype=np.float32))


def test_concealment_continues_the_sound_instead_of_a_gap() -> None:
    packets = encode(sine(440.0, 20))
    decoder = OpusDecoder()
    last = [decoder.decode(p) for p in packets[:10]][-1]
    concealed = decoder.conceal()
    assert concealed.shape == (FRAME_SAMPLES,)
    assert dbfs(concealed) > dbfs(last) - 6.0
    assert tone_amplitude(concealed, 440.0) > 0.1
    assert decoder.frames == 11


# --- Limiter ---------------------------------------------------------------


def loud_room(frames: int) -> Pcm:
    """Ten full-scale sines summed: peaks near 10x full scale."""
    voices = [sine(150.0 + 97.0 * k, frames, 1.0, phase=k) for k in range(10)]
    return np.sum(voices, axis=0).astype(np.float32)


def test_quiet_mix_passes_the_soft_limit_at_unity() -> None:
    quiet = sine(440.0, 5, amplitude=KNEE)
    assert np.array_equal(soft_limit(quiet), quiet)


def test_soft_limit_keeps_ten_loud_speakers_below_full_scale_without_clipping() -> None:
    mix = loud_room(5)
    assert np.abs(mix).max() > 8.0
    out = soft_limit(mix)
    assert out.dtype == np.float32
    assert np.abs(out).max() < 1.0
    # A clip maps a range of inputs onto one value; this curve is strictly
    # increasing, so distinct inputs stay distinct and in order.
    order = np.argsort(mix, kind="stable")
    rising_in, rising_out = np.diff(mix[order]), np.diff(out[order])
    assert np.all(rising_out[rising_in > 1e-3] > 0)
    # Smooth: the curve never steepens the waveform (slope at most 1).
    assert np.all(np.abs(np.diff(out)) <= np.abs(np.diff(mix)) + 1e-6)


def test_limiter_turns_a_loud_room_down_and_keeps_its_waveform() -> None:
    mix = loud_room(50).reshape(-1, FRAME_SAMPLES)
    limiter = Limiter()
    out = [limiter.process(frame) for frame in mix]
    assert max(float(np.abs(o).max()) for o in out) < 1.0
    for source, limited in zip(mix[1:], out[1:], strict=True):
        # After the attack the loud frames are only scaled: no clipping distortion.
        assert np.corrcoef(source, limited)[0, 1] > 0.999
        assert float(np.abs(limited).max()) < KNEE + 0.02
    steps = np.abs(np.diff(np.concatenate(out)))
    assert steps.max() < 0.2  # no click at frame boundaries


def test_limiter_leaves_a_quiet_room_untouched() -> None:
    limiter = Limiter()
    for frame in sine(200.0, 10, amplitude=0.5).reshape(-1, FRAME_SAMPLES):
        assert np.array_equal(limiter.process(frame), frame)
    assert limiter.gain == 1.0


def test_dbfs_of_a_full_scale_sine_and_of_silence() -> None:
    assert dbfs(sine(1000.0, 1, amplitude=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert dbfs((sine(1000.0, 1, amplitude=0.5) * 32768).astype(np.int16)) == pytest.approx(
        -9.03, abs=0.01
    )
    assert dbfs(np.zeros(FRAME_SAMPLES, dtype=np.float32)) == -120.0


# --- Room mixer ------------------------------------------------------------


class Room:
    """A mixer fed one packet per speaker per tick, as a steady network would."""

    def __init__(self, speakers: dict[str, float], frames: int) -> None:
        self.mixer = RoomMixer(clock_us=lambda: self.now_us)
        self.now_us = 1_000_000
        self.packets = {s: encode(sine(f, frames)) for s, f in speakers.items()}
        for speaker in speakers:
            self.mixer.add_speaker(speaker)
        self.out: list[bytes] = []
        self.minus: dict[str, list[bytes | None]] = {}
        self.levels: list[dict[str, float]] = []
        self.captures: list[int] = []

    def run(self, ticks: range, skip: frozenset[tuple[str, int]] = frozenset()) -> None:
        for n in ticks:
            self.now_us += 20_000
            for speaker, packets in self.packets.items():
                if n < len(packets) and (speaker, n) not in skip:
                    capture = self.now_us - 5_000
                    self.mixer.push(speaker, n, n * FRAME_SAMPLES, packets[n], capture)
            frame = self.mixer.tick()
            assert frame.seq == len(self.out)
            self.out.append(frame.packet)
            for speaker in self.mixer.listening():
                self.minus.setdefault(speaker, []).append(frame.minus.get(speaker))
            self.levels.append(frame.levels)
            self.captures.append(frame.capture_us)

    def decoded(self) -> Pcm:
        return decode(self.out)

    def heard_by(self, speaker: str) -> Pcm:
        """What a listening speaker is sent: their own feed while they talk, else the mix."""
        own = self.minus[speaker]
        return decode([p if p is not None else self.out[n] for n, p in enumerate(own)])


def test_the_mix_contains_every_speakers_tone() -> None:
    room = Room(TONES, 40)
    room.run(range(40))
    span = mixed_span(room.decoded(), 10, 40)
    for freq in TONES.values():
        assert tone_amplitude(span, freq) == pytest.approx(0.2, rel=0.15)
    assert tone_amplitude(span, 1000.0) < 0.01
    assert room.levels[20].keys() == TONES.keys()
    assert room.levels[20]["ann"] == pytest.approx(dbfs(sine(300.0, 1)), abs=1.5)


def test_a_muted_speaker_is_absent_from_the_next_frame_until_unmuted() -> None:
    room = Room(TONES, 120)
    room.run(range(40))
    room.mixer.set_muted("bob", True)
    room.run(range(40, 80))
    room.mixer.set_muted("bob", False)
    room.run(range(80, 120))
    assert "bob" in room.levels[39]
    assert all("bob" not in levels for levels in room.levels[40:80])
    assert all("bob" in levels for levels in room.levels[83:])  # after priming again
    decoded = room.decoded()
    assert tone_amplitude(mixed_span(decoded, 20, 40), 700.0) > 0.15
    muted = mixed_span(decoded, 41, 80)
    assert tone_amplitude(muted, 700.0) < 0.005
    assert tone_amplitude(muted, 300.0) > 0.15
    assert tone_amplitude(mixed_span(decoded, 85, 120), 700.0) > 0.15


def test_a_listening_speaker_gets_the_mix_without_their_own_voice() -> None:
    room = Room(TONES, 60)
    room.mixer.set_listening("bob", True)
    room.run(range(60))
    assert room.mixer.listening() == ("bob",)
    assert all(p is not None for p in room.minus["bob"][5:])  # bob talks: his own feed
    own = mixed_span(room.heard_by("bob"), 10, 60)
    assert tone_amplitude(own, 700.0) < 0.005  # bob's own tone is not sent back to bob
    assert tone_amplitude(own, 300.0) == pytest.approx(0.2, rel=0.15)
    assert tone_amplitude(own, 1300.0) == pytest.approx(0.2, rel=0.15)
    everyone = mixed_span(room.decoded(), 10, 60)
    assert tone_amplitude(everyone, 700.0) == pytest.approx(0.2, rel=0.15)  # others still hear bob


def test_a_quiet_listening_speaker_costs_no_extra_encode_until_they_talk() -> None:
    room = Room(TONES, 100)
    room.mixer.set_listening("bob", True)
    room.run(range(30), skip=frozenset(("bob", n) for n in range(30)))
    assert room.minus["bob"] == [None] * 30  # quiet: bob gets the room's mix
    room.run(range(30, 60))
    assert all(p is not None for p in room.minus["bob"][35:60])  # talking: his own feed
    room.run(range(60, 100), skip=frozenset(("bob", n) for n in range(60, 100)))
    hang = MINUS_HANG_TICKS
    assert all(p is not None for p in room.minus["bob"][60 : 60 + hang - 5])
    # after the last packet the jitter buffer conceals ~100 ms before it reports silence
    assert room.minus["bob"][60 + hang + 10 :] == [None] * (40 - hang - 10)
    span = mixed_span(room.heard_by("bob"), 40, 58)
    assert tone_amplitude(span, 700.0) < 0.005 and tone_amplitude(span, 300.0) > 0.15


def test_mix_minus_stops_with_listening_and_with_the_speaker() -> None:
    room = Room(TONES, 20)
    room.mixer.set_listening("ann", True)
    room.run(range(10))
    room.mixer.set_listening("ann", False)
    room.run(range(10, 15))
    assert len(room.minus["ann"]) == 10 and room.minus["ann"][9] is not None
    room.mixer.set_listening("cat", True)
    room.mixer.remove_speaker("cat")
    room.run(range(15, 20))
    assert room.mixer.listening() == () and "cat" not in room.minus
    with pytest.raises(KeyError):
        room.mixer.set_listening("nobody", True)


def test_lost_packets_are_concealed_not_silenced() -> None:
    room = Room({"ann": 300.0}, 60)
    lost = frozenset({("ann", 30), ("ann", 31), ("ann", 45)})
    room.run(range(60), skip=lost)
    # Packet n is mixed at tick n + 2 (three frames of jitter buffer).
    for n in (30, 31, 45):
        assert room.levels[n + 2]["ann"] > -30.0
    decoded = room.decoded()
    for n in (30, 31, 45):
        gap = mixed_span(decoded, n + 2, n + 3)
        assert dbfs(gap) > dbfs(sine(300.0, 1)) - 10.0
    assert room.mixer.decoded_frames("ann") == 58


def test_silent_and_absent_speakers_cost_no_decode() -> None:
    room = Room({"ann": 300.0}, 30)
    room.mixer.add_speaker("quiet")  # promoted, never sends a packet
    room.run(range(30))
    room.run(range(30, 50))  # ann stops: a few concealed frames, then nothing
    assert room.mixer.decoded_frames("quiet") == 0
    assert all("quiet" not in levels for levels in room.levels)
    decoded_by_ann = room.mixer.decoded_frames("ann")
    room.run(range(50, 80))
    assert room.mixer.decoded_frames("ann") == decoded_by_ann
    assert room.levels[-1] == {}


def test_a_muted_speaker_is_not_decoded() -> None:
    room = Room({"ann": 300.0, "bob": 700.0}, 40)
    room.mixer.set_muted("bob", True)
    room.run(range(40))
    assert room.mixer.decoded_frames("bob") == 0
    assert room.mixer.decoded_frames("ann") == 38


def test_capture_time_is_the_latest_mixed_and_follows_the_clock_in_silence() -> None:
    room = Room({"ann": 300.0}, 10)
    room.run(range(10))
    # ann's packet n is captured at now(n) - 5 ms and mixed two ticks later.
    assert room.captures[5] == room.captures[4] + 20_000
    assert room.captures[5] == 1_000_000 + 4 * 20_000 - 5_000
    room.run(range(10, 30))  # nobody speaks: the same delay behind the clock
    assert np.all(np.diff(room.captures[2:]) == 20_000)
    assert room.captures[0] == 1_020_000  # before anyone spoke: the clock itself


def test_speakers_come_and_go() -> None:
    mixer = RoomMixer()
    mixer.add_speaker("ann")
    mixer.add_speaker("bob")
    mixer.add_speaker("ann")
    assert mixer.speaker_ids() == ("ann", "bob")
    mixer.remove_speaker("ann")
    mixer.remove_speaker("nobody")
    mixer.push("ann", 0, 0, b"\xf8", 0)  # a straggler after removal is dropped
    assert mixer.speaker_ids() == ("bob",)
    with pytest.raises(KeyError):
        mixer.set_muted("ann", True)


def test_a_corrupt_packet_is_concealed() -> None:
    room = Room({"ann": 300.0}, 20)
    room.packets["ann"][10] = b"\xff\xff\xff"  # code 3 packet with an invalid frame count
    room.run(range(20))
    assert room.levels[12]["ann"] > -30.0
    assert math.isfinite(room.levels[12]["ann"])
