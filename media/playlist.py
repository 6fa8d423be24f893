"""HLS playlists (RFC 8216bis), written and read back by Stoa itself.

FFmpeg's HLS muxer cannot write what a room's playlist needs (Low-Latency
parts, preload hints, a tier marker, segment names that follow the room's
seqs), so the playlist is text built here from plain values: the room's
audio playlist, its captions playlist (WebVTT segments, ``media.webvtt``) and
the multivariant playlist that ties them together. The same module
reads back the little the gateway needs to answer a blocking reload
(``position``) and puts each listener's token on every URI (``with_query``):
players resolve relative URIs against the playlist URL without its query, so
a token in the playlist URL alone would not reach the segments.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

TIER_CLASS = "dev.stoa.tier"
"""``CLASS`` of the ``EXT-X-DATERANGE`` that names the room's delivery tier (``X-TIER``)."""


def program_date(capture_us: int) -> str:
    """Microseconds since the epoch as an ``EXT-X-PROGRAM-DATE-TIME`` value (ms, UTC)."""
    moment = datetime.fromtimestamp(capture_us / 1_000_000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PartEntry:
    uri: str
    duration: float
    independent: bool = True


@dataclass(frozen=True)
class SegmentEntry:
    """A segment: complete (``uri`` set) or, for the newest one, still being written."""

    msn: int
    capture_us: int
    """When its first frame was captured: its ``EXT-X-PROGRAM-DATE-TIME``."""
    duration: float
    uri: str | None
    parts: tuple[PartEntry, ...] = ()


@dataclass(frozen=True)
class DateRange:
    id: str
    start_us: int
    cls: str
    attributes: tuple[tuple[str, str], ...] = ()
    """Client attributes (``X-...``) and their string values."""


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    map_uri: str | None
    """The init segment (``EXT-X-MAP``); None for WebVTT segments, which need none."""
    segments: tuple[SegmentEntry, ...]
    """Oldest first; the last one may be in progress (``uri`` None: parts only)."""
    part_target: float | None = None
    """Set for a Low-Latency playlist (``EXT-X-PART-INF``, blocking reload)."""
    preload_hint: str | None = None
    discontinuity_sequence: int = 0
    dateranges: tuple[DateRange, ...] = ()
    ended: bool = False
    version: int = 6

    @property
    def media_sequence(self) -> int:
        return self.segments[0].msn if self.segments else 0

    def render(self) -> str:
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{self.version}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
        ]
        if self.part_target is not None:
            lines.append(f"#EXT-X-PART-INF:PART-TARGET={self.part_target:.3f}")
            hold_back = 3 * self.part_target
            lines.append(
                f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={hold_back:.3f}"
            )
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}")
        if self.discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}")
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        if self.map_uri is not None:
            lines.append(f'#EXT-X-MAP:URI="{self.map_uri}"')
        for daterange in self.dateranges:
            extra = "".join(f',{name}="{value}"' for name, value in daterange.attributes)
            lines.append(
                f'#EXT-X-DATERANGE:ID="{daterange.id}",CLASS="{daterange.cls}",'
                f'START-DATE="{program_date(daterange.start_us)}",END-ON-NEXT=YES{extra}'
            )
        for segment in self.segments:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date(segment.capture_us)}")
            for part in segment.parts:
                independent = ",INDEPENDENT=YES" if part.independent else ""
                lines.append(
                    f'#EXT-X-PART:DURATION={part.duration:.3f},URI="{part.uri}"{independent}'
                )
            if segment.uri is not None:
                lines.append(f"#EXTINF:{segment.duration:.3f},")
                lines.append(segment.uri)
        if self.preload_hint is not None and not self.ended:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.preload_hint}"')
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Subtitles:
    """An ``EXT-X-MEDIA`` subtitles rendition, in group ``group_id``."""

    group_id: str
    name: str
    language: str
    uri: str
    default: bool = False
    autoselect: bool = True


@dataclass(frozen=True)
class MultivariantPlaylist:
    """One variant stream (the room's audio), with its subtitles renditions (one group)."""

    uri: str
    bandwidth: int
    """Peak bits per second of the variant's segments (``BANDWIDTH``)."""
    codecs: str
    subtitles: tuple[Subtitles, ...] = ()
    version: int = 6

    def render(self) -> str:
        lines = ["#EXTM3U", f"#EXT-X-VERSION:{self.version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for media in self.subtitles:
            lines.append(
                f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{media.group_id}",NAME="{media.name}",'
                f'LANGUAGE="{media.language}",AUTOSELECT={_yes(media.autoselect)},'
                f'DEFAULT={_yes(media.default)},URI="{media.uri}"'
            )
        subtitles = f',SUBTITLES="{self.subtitles[0].group_id}"' if self.subtitles else ""
        lines.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={self.bandwidth},CODECS="{self.codecs}"{subtitles}'
        )
        lines.append(self.uri)
        return "\n".join(lines) + "\n"


def _yes(value: bool) -> str:
    return "YES" if value else "NO"


# --- reading back -------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """How far a playlist goes: what a blocking reload (``_HLS_msn``, ``_HLS_part``) waits for."""

    last_msn: int
    """The newest complete segment (``media sequence - 1`` when there is none yet)."""
    parts: int
    """Parts listed after it: of segment ``last_msn + 1``, in progress."""
    ended: bool

    def has(self, msn: int, part: int | None = None) -> bool:
        """Whether the playlist holds segment ``msn`` (or its part ``part``), or anything later."""
        if self.ended or msn <= self.last_msn:
            return True
        if part is None:
            return False
        return msn == self.last_msn + 1 and part < self.parts


_MEDIA_SEQUENCE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", re.M)


def position(text: str) -> Position:
    match = _MEDIA_SEQUENCE.search(text)
    first = int(match.group(1)) if match else 0
    segments = parts = 0
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            segments += 1
            parts = 0
        elif line.startswith("#EXT-X-PART:"):
            parts += 1
    return Position(first + segments - 1, parts, "#EXT-X-ENDLIST" in text)


_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def with_query(text: str, query: str) -> str:
    """Every URI of the playlist (segment lines and ``URI="..."`` attributes) with ``?query``."""

    def add(uri: str) -> str:
        return f"{uri}{'&' if '?' in uri else '?'}{query}"

    lines: list[str] = []
    for line in text.splitlines():
        if not line:
            lines.append(line)
        elif line.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{add(m.group(1))}"', line))
        else:
            lines.append(add(line))
    return "\n".join(lines) + "\n"
