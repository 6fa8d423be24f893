"""The per-speaker jitter buffer: order, duplicates, wrap-around, lateness, loss, priming."""

from media.jitter import EXTRA_FRAMES, LOST, MAX_CONCEAL_FRAMES, JitterBuffer, Missing

FRAME = 960


def payload(n: int) -> bytes:
    return f"p{n}".encode()


def push(buffer: JitterBuffer, n: int, seq0: int = 0, ts0: int = 0) -> None:
    """Push the n-th packet of a stream whose first packet had seq0 and ts0."""
    buffer.push((seq0 + n) % 65536, (ts0 + n * FRAME) % 2**32, payload(n))


def pops(buffer: JitterBuffer, count: int) -> list[bytes | Missing | None]:
    return [buffer.pop() for _ in range(count)]


def test_nothing_comes_out_until_depth_frames_are_buffered() -> None:
    buffer = JitterBuffer(depth_frames=3)
    assert buffer.pop() is None
    push(buffer, 0)
    assert buffer.pop() is None
    push(buffer, 1)
    assert buffer.pop() is None
    push(buffer, 2)
    assert buffer.pop() == payload(0)
    push(buffer, 3)
    assert pops(buffer, 3) == [payload(1), payload(2), payload(3)]


def test_priming_depth_is_counted_in_frames_of_timestamp_not_packets() -> None:
    buffer = JitterBuffer(depth_frames=5)
    for n in (0, 1, 3):  # packet 2 lost; packets 0..3 span 4 frames
        push(buffer, n)
    assert buffer.pop() is None
    push(buffer, 4)  # 0..4 span 5 frames
    assert pops(buffer, 5) == [payload(0), payload(1), LOST, payload(3), payload(4)]


def test_reorders_packets_that_arrive_out_of_order() -> None:
    buffer = JitterBuffer(depth_frames=3)
    for n in (2, 0, 1, 4, 3, 5):
        push(buffer, n)
    assert pops(buffer, 6) == [payload(n) for n in range(6)]


def test_drops_duplicates() -> None:
    buffer = JitterBuffer(depth_frames=2)
    for n in (0, 0, 1, 1, 2, 0, 2):
        push(buffer, n)
    assert pops(buffer, 4) == [payload(0), payload(1), payload(2), LOST]


def test_sequence_and_timestamp_wrap_around() -> None:
    buffer = JitterBuffer(depth_frames=3)
    seq0, ts0 = 65533, 2**32 - 2 * FRAME
    for n in (0, 1, 3, 2, 4, 6, 5, 7):  # seq 65533..65535, 0..4; ts wraps at n = 2
        push(buffer, n, seq0, ts0)
    assert pops(buffer, 8) == [payload(n) for n in range(8)]


def test_a_lost_packet_gives_the_lost_marker_in_its_slot() -> None:
    buffer = JitterBuffer(depth_frames=3)
    for n in (0, 1, 2, 4, 5):
        push(buffer, n)
    assert pops(buffer, 5) == [payload(0), payload(1), payload(2), LOST, payload(4)]


def test_a_packet_arriving_after_its_slot_is_dropped() -> None:
    buffer = JitterBuffer(depth_frames=3)
    for n in (0, 2, 3):
        push(buffer, n)
    assert pops(buffer, 2) == [payload(0), LOST]
    push(buffer, 1)  # too late: its slot was concealed
    push(buffer, 4)
    assert pops(buffer, 3) == [payload(2), payload(3), payload(4)]


def test_running_dry_conceals_a_late_packet_then_drops_it_when_it_comes() -> None:
    buffer = JitterBuffer(depth_frames=2)
    for n in (0, 1):
        push(buffer, n)
    assert pops(buffer, 3) == [payload(0), payload(1), LOST]  # packet 2 is late
    push(buffer, 2)
    push(buffer, 3)
    assert pops(buffer, 1) == [payload(3)]


def test_a_speaker_who_stops_is_concealed_briefly_then_skipped() -> None:
    buffer = JitterBuffer(depth_frames=3)
    for n in range(3):
        push(buffer, n)
    assert pops(buffer, 3) == [payload(0), payload(1), payload(2)]
    assert pops(buffer, MAX_CONCEAL_FRAMES) == [LOST] * MAX_CONCEAL_FRAMES
    assert pops(buffer, 10) == [None] * 10


def test_dtx_pause_is_silence_not_loss() -> None:
    """Sequence numbers continue across a DTX pause while the timestamp jumps."""
    buffer = JitterBuffer(depth_frames=3)
    for n in range(3):
        push(buffer, n)
    assert pops(buffer, 2) == [payload(0), payload(1)]
    buffer.push(3, 5 * FRAME, b"resume")  # the sender sent nothing for slots 3 and 4
    assert pops(buffer, 4) == [payload(2), None, None, b"resume"]


def test_speech_after_going_silent_primes_again() -> None:
    buffer = JitterBuffer(depth_frames=2)
    for n in range(2):
        push(buffer, n)
    pops(buffer, 2 + MAX_CONCEAL_FRAMES + 5)  # played, concealed, then silent
    buffer.push(2, 100 * FRAME, b"a")  # DTX resume: next seq, later timestamp
    assert buffer.pop() is None
    buffer.push(3, 101 * FRAME, b"b")
    assert pops(buffer, 2) == [b"a", b"b"]


def test_a_burst_beyond_the_slack_skips_ahead_to_depth() -> None:
    buffer = JitterBuffer(depth_frames=3)
    burst = 3 + EXTRA_FRAMES + 4
    for n in range(burst):
        push(buffer, n)
    assert pops(buffer, 4) == [payload(n) for n in range(burst - 3, burst)] + [LOST]


def test_a_restarted_stream_on_a_new_timeline_is_played() -> None:
    buffer = JitterBuffer(depth_frames=2)
    for n in range(4):
        push(buffer, n)
    assert pops(buffer, 2) == [payload(0), payload(1)]
    for n in range(2):  # new SSRC: unrelated seq and timestamp
        push(buffer, n, seq0=40000, ts0=3_000_000_000)
    assert pops(buffer, 2) == [payload(0), payload(1)]


def test_capture_time_rides_with_the_payload() -> None:
    buffer = JitterBuffer(depth_frames=2)
    buffer.push(11, 960, b"second", capture_us=2_000)
    buffer.push(10, 0, b"first", capture_us=1_000)
    assert buffer.pop() == b"first"
    assert buffer.last_capture_us == 1_000
    assert buffer.pop() == b"second"
    assert buffer.last_capture_us == 2_000
