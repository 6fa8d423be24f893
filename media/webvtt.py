"""Live captions as WebVTT segments of a room's HLS rendition: which cues go where, as text.

The mixing node sends each listener final captions (CONTRACT.md, WebSocket
listen protocol) whose ``start``/``end`` are seconds from the room's start:
the clock of the listen protocol's seqs (``seq * 0.020``), which is also the
HLS audio's decode time (``seq * 960`` at 48 kHz, ``media.segmenter``). So a
cue is written with the room's own times, and one fixed mapping ties them to
the audio:

* **Timestamp map.** Every segment says ``X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000``:
  cue time 0 is media time 0, i.e. cue time = media time. hls.js (1.7.4,
  ``utils/webvtt-parser.ts``) places a cue at ``cue time - LOCAL + (MPEGTS -
  initPTS) / 90000`` on the element's timeline, ``initPTS`` being the shift it
  applied to the fMP4 audio (its first decode time): the same shift the audio
  gets. A map anchored at each segment's own start would work too, except
  where ``MPEGTS`` equals the audio's ``initPTS`` exactly: hls.js then takes
  the offset from the first subtitle fragment instead, which is wrong after a
  discontinuity. ``MPEGTS:0`` equals it only for a stream that starts at seq 0,
  where that fallback is 0 as well.
* **Late cues go into the next segment.** Captions lag the audio by 2-3 s, so
  a final caption often arrives after the segment it belongs to was written.
  It is not held back for: every WebVTT segment is written with its audio
  segment, and a cue whose segments are already out goes into the next one
  written, with its true times (``due``). Holding segments back instead would
  buy nothing for Stoa's listeners, who play LL-HLS about a second behind the
  live edge (a 4 s hold makes their captions as late as this does), and it
  would leave the captions playlist behind the audio one, empty for the first
  seconds of a stream (hls.js reports an empty playlist as an error). A cue is
  its own id (the caption's ``segment_id``), so the same cue in two segments
  is one cue to a player.
* **Spanning cues.** A cue overlapping several segments is in each of them
  (RFC 8216bis 3.1.4: a segment holds every cue shown during it).
* **Speaker.** A known speaker is a voice span, ``<v ann>words</v>``.

Partials (``final: false``) change until they are final, and a segment,
once written, is never written again: only finals are kept.
"""

import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

MEDIA_TYPE: Final = "text/vtt"
TIMESTAMP_MAP: Final = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"
"""Cue time = room time = the audio's media time (see the module docstring)."""
HEADER: Final = f"WEBVTT\n{TIMESTAMP_MAP}\n"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
"""A caption's ``segment_id`` used as the cue's identifier as it is (a UUID is)."""
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cue:
    """A final caption: ``start``/``end`` in seconds from the room's start."""

    id: str
    start: float
    end: float
    text: str
    speaker_id: str | None = None


def cue_from_message(parsed: dict[str, Any]) -> Cue | None:
    """The cue of a final caption message; ``None`` for anything else or a malformed one.

    A caption is one line: a line break would end the cue (WebVTT), so runs of
    white space become one space.
    """
    if parsed.get("type") != "caption" or parsed.get("final") is not True:
        return None
    start, end, text = parsed.get("start"), parsed.get("end"), parsed.get("text")
    if not isinstance(text, str) or not _seconds(start) or not _seconds(end):
        return None
    text = _SPACE.sub(" ", text).strip()
    if not text or end < start:
        return None
    speaker = parsed.get("speaker_id")
    speaker_id = None
    if isinstance(speaker, str):
        speaker_id = _SPACE.sub(" ", speaker).strip() or None
    segment_id = parsed.get("segment_id")
    if isinstance(segment_id, str) and _SAFE_ID.match(segment_id):
        cue_id = segment_id
    else:  # the same caption always gets the same id
        cue_id = f"t{round(start * 1000)}-{round(end * 1000)}-{zlib.crc32(text.encode()):08x}"
    return Cue(cue_id, float(start), float(end), text, speaker_id)


def _seconds(value: object) -> TypeGuard[float]:
    """A finite number of seconds (JSON numbers; ``true`` is no number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def due(pending: Sequence[Cue], segment_end: float) -> tuple[list[Cue], list[Cue]]:
    """Split the cues not yet written at the end of a segment: ``(in it, still pending)``.

    A segment holds every pending cue that starts before its end: the ones
    overlapping it, and the late ones whose own segments are already written.
    A cue that goes on past the segment's end stays pending for the next one
    (a spanning cue is in each segment it overlaps); so does one that starts
    later. The last segment of a stream takes everything (``segment_end`` inf).
    """
    into: list[Cue] = []
    kept: list[Cue] = []
    for cue in pending:
        placed = cue.start < segment_end
        if placed:
            into.append(cue)
        if not placed or cue.end > segment_end:
            kept.append(cue)
    return into, kept


def timestamp(seconds: float) -> str:
    """A WebVTT timestamp, ``HH:MM:SS.mmm`` (hours keep growing past 99)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def escape(text: str) -> str:
    """Cue text as WebVTT reads it back: ``&``, ``<`` and ``>`` as character references."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cue_text(cue: Cue) -> str:
    """The cue's payload: its words, in a voice span naming the speaker when known."""
    if cue.speaker_id is None:
        return escape(cue.text)
    return f"<v {escape(cue.speaker_id)}>{escape(cue.text)}</v>"


def render(cues: Iterable[Cue], header: str = HEADER) -> str:
    """One WebVTT segment (the header with the timestamp map), then the cues by start time;
    with ``header="WEBVTT\\n"``, a whole file (a recording's transcript)."""
    blocks = [header]
    for cue in sorted(cues, key=lambda c: (c.start, c.end, c.id)):
        blocks.append(
            f"{cue.id}\n{timestamp(cue.start)} --> {timestamp(cue.end)}\n{cue_text(cue)}\n"
        )
    return "\n".join(blocks)
