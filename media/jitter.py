"""Per-speaker jitter buffer: RTP packets in network order in, one 20 ms frame per tick out.

The mixer pulls one frame per speaker every 20 ms by its own clock, while packets
arrive late, early, twice, out of order or never. This buffer holds each speaker
``depth_frames`` behind the newest packet and answers every pull with one of
three things, so the mixer never has to guess:

* ``bytes``: the payload due in this slot: decode it;
* ``LOST`` (the ``Missing.LOST`` marker): a packet was due here and is missing
  (a gap in RTP sequence numbers, or the stream ran dry mid-speech): conceal;
* ``None``: nothing is due: the speaker has not started, is silent (DTX:
  sequence numbers continue but the RTP timestamp jumps) or has stopped: skip
  the speaker, it costs no decode.

Playout follows RTP timestamps (48 kHz, 960 per frame); sequence numbers tell a
lost packet (a gap in ``seq``) from a pause (no gap in ``seq``, a jump in
timestamp). Both wrap (16 and 32 bits) and are unwrapped against the newest
packet seen.
"""

import enum
from typing import Final, NamedTuple

from media.opus import FRAME_SAMPLES
from media.wrap import MOD16, MOD32, unwrap

SEQ_MODULUS: Final = MOD16
TS_MODULUS: Final = MOD32
FRAME_TS: Final = FRAME_SAMPLES  # RTP clock is 48 kHz, one frame is 960 ticks

# When the buffer runs dry mid-speech, conceal this many slots (100 ms: a late
# packet or clock drift) before deciding the speaker went silent and skipping it.
MAX_CONCEAL_FRAMES: Final = 5
# Holding more than depth + this many frames (a burst after a stall, or a sender
# clock running fast) skips the oldest audio to bring latency back to depth.
EXTRA_FRAMES: Final = 5
# A packet this far (1 s) from the playout point belongs to a new timeline (the
# sender restarted): start over rather than wait for it or drop it forever.
RESYNC_FRAMES: Final = 50
# Memory guard when nobody pulls: never hold more than this many packets.
MAX_PACKETS: Final = 256


class Missing(enum.Enum):
    """What ``pop`` returns for a slot whose packet was lost: decode PLC for it."""

    LOST = "lost"


LOST: Final = Missing.LOST


class _Packet(NamedTuple):
    timestamp: int  # unwrapped
    payload: bytes
    capture_us: int | None


class JitterBuffer:
    """Reorders one speaker's packets and plays them out one 20 ms slot per ``pop``.

    ``pop`` returns ``None`` until ``depth_frames`` frames (by RTP timestamp) are
    buffered; from then on it returns one answer per call (see the module
    docstring). A packet arriving after its slot was played or concealed is
    dropped, as is a duplicate. Not thread-safe: push and pop from one thread.
    """

    def __init__(self, depth_frames: int = 3) -> None:
        if depth_frames < 1:
            raise ValueError("depth_frames must be at least 1")
        self._depth = depth_frames
        self.last_capture_us: int | None = None
        """Capture time given with the payload the latest ``pop`` returned."""
        self.reset()

    def reset(self) -> None:
        """Forget every packet and the timeline: the next packets prime afresh."""
        self._packets: dict[int, _Packet] = {}  # by unwrapped seq
        self._seq_ref: int | None = None  # newest unwrapped seq pushed
        self._ts_ref: int | None = None  # newest unwrapped timestamp pushed
        self._playing = False
        self._has_timeline = False  # _play_ts and _last_seq mean something
        self._play_ts = 0  # timestamp of the slot the next pop fills
        self._last_seq = 0  # seq of the last packet played or declared lost
        self._dry_pops = 0  # consecutive pops that found the buffer empty

    def push(self, seq: int, timestamp: int, payload: bytes, capture_us: int | None = None) -> None:
        """Buffer one packet; drop it if it is a duplicate or its slot has passed.

        ``capture_us`` rides along with the payload and is handed back as
        ``last_capture_us`` when the payload is popped.
        """
        seq_x = unwrap(seq, self._seq_ref, SEQ_MODULUS)
        ts_x = unwrap(timestamp, self._ts_ref, TS_MODULUS)
        if self._has_timeline:
            if abs(ts_x - self._play_ts) > RESYNC_FRAMES * FRAME_TS:
                self.reset()
                seq_x, ts_x = seq % SEQ_MODULUS, timestamp % TS_MODULUS
            elif ts_x < self._play_ts or seq_x <= self._last_seq:
                return  # too late: its slot was played or concealed
        if seq_x in self._packets:
            return  # duplicate
        self._packets[seq_x] = _Packet(ts_x, payload, capture_us)
        if self._seq_ref is None or seq_x > self._seq_ref:
            self._seq_ref = seq_x
        if self._ts_ref is None or ts_x > self._ts_ref:
            self._ts_ref = ts_x
        if len(self._packets) > MAX_PACKETS:
            del self._packets[min(self._packets)]

    def pop(self) -> bytes | Missing | None:
        """The next 20 ms slot: payload, ``LOST`` (conceal it) or ``None`` (skip it)."""
        if not self._playing and not self._start():
            return None
        if not self._packets:
            return self._ran_dry()
        self._dry_pops = 0
        self._skip_if_too_deep()
        head = min(self._packets)
        packet = self._packets[head]
        if packet.timestamp < self._play_ts + FRAME_TS:
            del self._packets[head]
            self._last_seq = head
            self._play_ts = packet.timestamp + FRAME_TS
            self.last_capture_us = packet.capture_us
            return packet.payload
        self._play_ts += FRAME_TS
        if head > self._last_seq + 1:
            self._last_seq += 1
            return LOST  # a sequence gap: this slot's packet never came
        return None  # no sequence gap: the sender paused (DTX) until the head's timestamp

    def _start(self) -> bool:
        """Start playing once ``depth`` frames are buffered, from the oldest one."""
        if not self._packets:
            return False
        head = min(self._packets)
        first_ts = self._packets[head].timestamp
        newest_ts = max(p.timestamp for p in self._packets.values())
        if (newest_ts - first_ts) // FRAME_TS + 1 < self._depth:
            return False
        self._playing = self._has_timeline = True
        self._play_ts = first_ts
        self._last_seq = head - 1
        self._dry_pops = 0
        return True

    def _ran_dry(self) -> Missing | None:
        """Nothing buffered mid-speech: conceal a few slots (a late packet), then go idle."""
        self._dry_pops += 1
        if self._dry_pops > MAX_CONCEAL_FRAMES:
            self._playing = False  # silent or gone; the next packets prime again
            return None
        self._play_ts += FRAME_TS
        return LOST

    def _skip_if_too_deep(self) -> None:
        newest_ts = max(p.timestamp for p in self._packets.values())
        if (newest_ts - self._play_ts) // FRAME_TS + 1 <= self._depth + EXTRA_FRAMES:
            return
        self._play_ts = newest_ts - (self._depth - 1) * FRAME_TS
        for seq in [s for s, p in self._packets.items() if p.timestamp < self._play_ts]:
            del self._packets[seq]
        self._last_seq = min(self._packets) - 1
