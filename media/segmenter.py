"""A room's HLS rendition: its mixed Opus packets in, CMAF segments and a live playlist out.

The room is mixed and encoded once (``media.room``); HLS only changes the
container. Each listen-protocol record's Opus packet goes into fragmented MP4
as it is (``media.fmp4``: no decode, no encode), and the playlist is written
here (``media.playlist``), because FFmpeg's HLS muxer cannot write parts or
name segments after the room's seqs.

* **Timeline = seqs.** Frame ``seq`` is decoded at ``seq * 960`` (48 kHz
  timescale): every fragment's ``tfdt`` is its first seq times 960, so a
  client maps HLS audio back to listen-protocol seqs, and a restarted
  segmenter cuts the same boundaries.
* **Segments and parts.** Segment ``n`` holds seqs ``[50n, 50n + 50)`` (1 s,
  named ``n.m4s``, its media sequence number is ``n``) and is made of five
  200 ms parts (``n.0.m4s`` .. ``n.4.m4s``, LL-HLS ``EXT-X-PART``; the segment
  file is its parts' bytes end to end). A segmenter that starts mid-stream
  waits for the next part boundary; its first segment is then shorter.
* **Holes.** Seqs lost upstream (a reported gap) are filled with Opus's
  silent frame, so every segment keeps its 50 frames and every name its
  meaning. A hole longer than the playlist's window is not filled: the
  stream restarts at the next part boundary, the window starts over, and
  ``EXT-X-DISCONTINUITY-SEQUENCE`` counts the restart.
* **Sliding window.** The playlist lists the last ``WINDOW_SEGMENTS`` segments,
  with parts for the last ``PART_SEGMENTS`` of them and the one being written;
  what leaves the playlist is deleted from storage ``RETIRE_FRAMES`` later
  (a player that read the previous playlist may still fetch it).
* **Program date.** Each segment's ``EXT-X-PROGRAM-DATE-TIME`` is the capture
  time its first record carries.
* **Tier.** The room's delivery tier, as the mixing node announces it, is an
  ``EXT-X-DATERANGE`` of class ``dev.stoa.tier`` with ``X-TIER``: players ignore
  it, and a client on HLS reads it to learn the room left the ``hls`` tier.
* **Captions.** Beside the audio, a subtitles rendition: WebVTT segment
  ``n.vtt`` is written with audio segment ``n`` (same seqs, duration and
  program date) and holds the room's final captions that overlap it, or that
  arrived after their own segments were written (``media.webvtt`` says which
  and why). Its playlist, ``captions.m3u8``, lists the complete segments the
  audio playlist lists, in the same window, and closes with it.
  ``multivariant.m3u8`` names both (``EXT-X-MEDIA:TYPE=SUBTITLES``); it is
  written once both playlists list a segment, so a player reading it never
  finds an empty one. ``index.m3u8`` stays the audio's own playlist.
* **End.** ``end`` flushes the last short segment (with every caption still
  pending) and closes both playlists with ``EXT-X-ENDLIST``.

Every call returns an ``Update``: objects to store, then the playlists, then
names to delete, in that order; the caller (``media.hls_node``) does the I/O.
"""

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from media import webvtt
from media.fmp4 import Fmp4Muxer, Fragment
from media.opus import FRAME_US
from media.playlist import (
    TIER_CLASS,
    DateRange,
    MediaPlaylist,
    MultivariantPlaylist,
    PartEntry,
    SegmentEntry,
    Subtitles,
)

SEGMENT_FRAMES: Final = 50
"""1 s segments: the target duration."""
PART_FRAMES: Final = 10
"""200 ms parts."""
WINDOW_SEGMENTS: Final = 6
PART_SEGMENTS: Final = 3
"""Complete segments whose parts stay listed (RFC 8216bis: three target durations)."""
RETIRE_FRAMES: Final = WINDOW_SEGMENTS * SEGMENT_FRAMES
"""How long (in frames) an object outlives its last listing before it is deleted."""
MAX_FILL_FRAMES: Final = WINDOW_SEGMENTS * SEGMENT_FRAMES
"""The longest hole filled with silence; a longer one restarts the stream."""
SILENCE: Final = bytes.fromhex("f8fffe")
"""20 ms of digital silence as libopus encodes it (CELT, fullband, one empty frame)."""
INIT: Final = "init.mp4"
PLAYLIST: Final = "index.m3u8"
"""The audio's media playlist: the URL listeners are given (``listen.hls``)."""
CAPTIONS_PLAYLIST: Final = "captions.m3u8"
MULTIVARIANT: Final = "multivariant.m3u8"
CAPTIONS_GROUP: Final = "captions"
BANDWIDTH: Final = 80_000
"""The room's 64 kbps Opus (constrained VBR) and its fMP4 boxes, rounded up, in bits/s."""
CODECS: Final = "opus"
PENDING_CUES: Final = 500
"""Captions kept while no audio comes to write them with; the oldest go first."""
SEEN_CUES: Final = 500
"""Recent cue ids remembered, so a caption sent twice (a feed's reconnection) is written once."""


def segment_name(msn: int) -> str:
    return f"{msn}.m4s"


def part_name(msn: int, index: int) -> str:
    return f"{msn}.{index}.m4s"


def captions_name(msn: int) -> str:
    """Segment ``n``'s captions: the same seqs as ``n.m4s``."""
    return f"{msn}.vtt"


def multivariant() -> str:
    """The multivariant playlist: the audio, with the captions as its subtitles."""
    captions = Subtitles(CAPTIONS_GROUP, "Captions", "en", CAPTIONS_PLAYLIST)
    return MultivariantPlaylist(PLAYLIST, BANDWIDTH, CODECS, (captions,)).render()


@dataclass
class Update:
    """What one call changed, to apply in order: objects (``objects``, ``captions``), playlists
    (``playlist``, ``captions_playlist``, then ``multivariant``), deletions (``deletes``,
    ``captions_deletes``). The audio's fields are what ``RenditionStore.write`` stores."""

    objects: list[tuple[str, bytes]] = field(default_factory=list)
    """fMP4: the init segment, segments and parts."""
    playlist: str | None = None
    deletes: list[str] = field(default_factory=list)
    captions: list[tuple[str, bytes]] = field(default_factory=list)
    """WebVTT segments."""
    captions_playlist: str | None = None
    multivariant: str | None = None
    captions_deletes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.objects
            or self.playlist is not None
            or self.deletes
            or self.captions
            or self.captions_playlist is not None
            or self.multivariant is not None
            or self.captions_deletes
        )

    def merge(self, later: "Update") -> "Update":
        """This update followed by ``later``, as one (only the newer playlists are kept)."""
        return Update(
            [*self.objects, *later.objects],
            _newer(self.playlist, later.playlist),
            [*self.deletes, *later.deletes],
            [*self.captions, *later.captions],
            _newer(self.captions_playlist, later.captions_playlist),
            _newer(self.multivariant, later.multivariant),
            [*self.captions_deletes, *later.captions_deletes],
        )


def _newer(earlier: str | None, later: str | None) -> str | None:
    return later if later is not None else earlier


def _delete(update: Update, names: list[str]) -> None:
    """Retired names to delete: the audio's go to ``deletes``, the captions' to their own list."""
    for name in names:
        (update.captions_deletes if name.endswith(".vtt") else update.deletes).append(name)


@dataclass
class _Segment:
    msn: int
    capture_us: int
    parts: list[Fragment] = field(default_factory=list)
    complete: bool = False
    parts_listed: bool = True

    @property
    def frames(self) -> int:
        return sum(part.frames for part in self.parts)


class Segmenter:
    """One room's rendition; see the module docstring for the rules it keeps."""

    def __init__(
        self,
        part_frames: int = PART_FRAMES,
        segment_frames: int = SEGMENT_FRAMES,
        window: int = WINDOW_SEGMENTS,
    ) -> None:
        if segment_frames % part_frames:
            raise ValueError("a segment must be a whole number of parts")
        self.part_frames = part_frames
        self.segment_frames = segment_frames
        self.window = window
        self.ended = False
        self.discontinuity = 0
        self._muxer: Fmp4Muxer | None = None
        self._next: int | None = None
        """The seq expected next (None: waiting for a part boundary to start on)."""
        self._last_capture = (0, 0)
        """``(seq, capture_us)`` of the newest frame muxed, to date silence filling holes."""
        self._segments: list[_Segment] = []
        """The window, oldest first; the last one may be in progress."""
        self._next_part: tuple[int, int] | None = None
        self._retired: deque[tuple[int, list[str]]] = deque()
        self._dateranges: list[DateRange] = []
        self._tier: str | None = None
        self._restarting = False
        self._cues: list[webvtt.Cue] = []
        """Final captions not yet written in full: see ``media.webvtt.due``."""
        self._seen: deque[str] = deque(maxlen=SEEN_CUES)
        self._last_segment = False
        """Ending: the segment completed now is the last one, and takes every pending cue."""
        self._multivariant = False
        """Whether the multivariant playlist was written."""

    # --- input ------------------------------------------------------------

    def push(self, seq: int, capture_us: int, payload: bytes) -> Update:
        """One frame of the room (``seq`` unwrapped); frames must come in seq order."""
        update = Update()
        if self.ended or (self._next is not None and seq < self._next):
            return update  # the room is over, or a frame already muxed
        if self._next is not None and seq - self._next > MAX_FILL_FRAMES:
            self._restart(update, seq)
        if self._next is None:
            if seq % self.part_frames:
                return update  # start on a part boundary, so parts and segments line up
            if self._restarting:  # the old window goes only now, so an end meanwhile lists it
                self._retire(seq, self._segments)
                self._segments = []
                self.discontinuity += 1
                self._restarting = False
            self._muxer = Fmp4Muxer(self.part_frames)
            if not self._segments and self.discontinuity == 0:
                update.objects.append((INIT, self._muxer.init))
            self._next = seq
        else:
            last_seq, last_capture = self._last_capture
            for missing in range(self._next, seq):
                self._mux(update, missing, last_capture + (missing - last_seq) * FRAME_US, SILENCE)
        self._mux(update, seq, capture_us, payload)
        return self._settle(update, seq)

    def tier(self, tier: str, at_us: int) -> Update:
        """The room's delivery tier, as of ``at_us``; a change is marked in the playlist."""
        if tier == self._tier or self.ended:
            return Update()
        self._tier = tier
        self._dateranges.append(
            DateRange(f"tier-{at_us // 1000}", at_us, TIER_CLASS, (("X-TIER", tier),))
        )
        return Update(playlist=self._render()) if self._listed() else Update()

    def caption(self, cue: webvtt.Cue) -> None:
        """A final caption: written with the next segment completed (never on its own)."""
        if self.ended or cue.id in self._seen:
            return
        self._seen.append(cue.id)
        self._cues.append(cue)
        del self._cues[:-PENDING_CUES]

    def end(self) -> Update:
        """The room ended: the last short segment, and ``EXT-X-ENDLIST``."""
        update = Update()
        if self.ended:
            return update
        self._last_segment = True
        self._close_stream(update)
        self.ended = True
        if self._listed():
            update.playlist = self._render()
            self._render_captions(update)
            for _, names in self._retired:
                _delete(update, names)
            self._retired.clear()
        return update

    # --- the stream -------------------------------------------------------

    def _mux(self, update: Update, seq: int, capture_us: int, payload: bytes) -> None:
        assert self._muxer is not None
        if seq % self.segment_frames == 0 or not self._segments or self._segments[-1].complete:
            self._segments.append(_Segment(seq // self.segment_frames, capture_us))
        fragments = self._muxer.mux(seq, payload)
        self._next = seq + 1
        self._last_capture = (seq, capture_us)
        for fragment in fragments:
            self._add(update, fragment)

    def _part_name(self, fragment: Fragment) -> str:
        """Part ``i`` of segment ``n`` starts at seq ``50n + 10i``."""
        return part_name(*self._part_at(fragment.first_seq))

    def _part_at(self, seq: int) -> tuple[int, int]:
        return seq // self.segment_frames, (seq % self.segment_frames) // self.part_frames

    def _add(self, update: Update, fragment: Fragment) -> None:
        msn = fragment.first_seq // self.segment_frames
        segment = next(s for s in reversed(self._segments) if s.msn == msn)
        segment.parts.append(fragment)
        update.objects.append((self._part_name(fragment), fragment.data))
        end = fragment.first_seq + fragment.frames
        self._next_part = self._part_at(end)
        if end % self.segment_frames == 0:
            self._complete(update, segment)

    def _complete(self, update: Update, segment: _Segment) -> None:
        segment.complete = True
        update.objects.append(
            (segment_name(segment.msn), b"".join(part.data for part in segment.parts))
        )
        last = segment.parts[-1]
        end = math.inf if self._last_segment else (last.first_seq + last.frames) * FRAME_US / 1e6
        cues, self._cues = webvtt.due(self._cues, end)
        update.captions.append((captions_name(segment.msn), webvtt.render(cues).encode()))

    def _close_stream(self, update: Update) -> None:
        """Flush the muxer; the segment in progress ends where the stream does."""
        if self._muxer is None:
            return
        for fragment in self._muxer.close():
            self._add(update, fragment)
        self._muxer = None
        self._next_part = None
        last = self._segments[-1] if self._segments else None
        if last is not None and not last.complete:
            if last.parts:
                self._complete(update, last)
            else:
                self._segments.pop()

    def _restart(self, update: Update, seq: int) -> None:
        """A hole too long to fill: close this stream; a new one (and window) starts next."""
        self._close_stream(update)
        self._next = None
        self._restarting = True

    # --- the window -------------------------------------------------------

    def _retire(self, seq: int, segments: list[_Segment], parts_only: bool = False) -> None:
        names: list[str] = []
        for segment in segments:
            if segment.parts_listed:
                names.extend(self._part_name(part) for part in segment.parts)
                segment.parts_listed = False
            if not parts_only and segment.complete:
                names.extend((segment_name(segment.msn), captions_name(segment.msn)))
        if names:
            self._retired.append((seq, names))

    def _settle(self, update: Update, seq: int) -> Update:
        """Slide the window after new media, delete what has been unlisted long enough."""
        if not any(name != INIT for name, _ in update.objects):
            return update
        complete = [s for s in self._segments if s.complete]
        if len(complete) > self.window:
            gone = complete[: len(complete) - self.window]
            self._retire(seq, gone)
            self._segments = [s for s in self._segments if s not in gone]
            complete = complete[len(gone) :]
        self._retire(seq, complete[: max(0, len(complete) - PART_SEGMENTS)], parts_only=True)
        while self._retired and self._retired[0][0] + RETIRE_FRAMES <= seq:
            _delete(update, self._retired.popleft()[1])
        update.playlist = self._render()
        if update.captions:
            self._render_captions(update)
        return update

    def _listed(self) -> bool:
        return any(segment.parts for segment in self._segments)

    def _target_duration(self, segments: list[_Segment]) -> int:
        seconds = self.segment_frames * FRAME_US / 1e6
        return math.ceil(max([seconds, *(s.frames * FRAME_US / 1e6 for s in segments)]))

    def _render_captions(self, update: Update) -> None:
        """The captions playlist: the audio playlist's complete segments, as WebVTT."""
        segments = [s for s in self._segments if s.complete]
        if not segments:
            return
        update.captions_playlist = MediaPlaylist(
            target_duration=self._target_duration(segments),
            map_uri=None,
            segments=tuple(
                SegmentEntry(s.msn, s.capture_us, s.frames * FRAME_US / 1e6, captions_name(s.msn))
                for s in segments
            ),
            discontinuity_sequence=self.discontinuity,
            ended=self.ended,
        ).render()
        if not self._multivariant:
            self._multivariant = True
            update.multivariant = multivariant()

    def _render(self) -> str:
        segments = [s for s in self._segments if s.parts]
        first_us = segments[0].capture_us if segments else 0
        earlier = [d for d in self._dateranges if d.start_us <= first_us]
        dateranges = [*earlier[-1:], *(d for d in self._dateranges if d.start_us > first_us)]
        hint = None
        if self._next_part is not None and not self.ended:
            hint = part_name(*self._next_part)
        return MediaPlaylist(
            target_duration=self._target_duration(segments),
            map_uri=INIT,
            segments=tuple(
                SegmentEntry(
                    msn=s.msn,
                    capture_us=s.capture_us,
                    duration=s.frames * FRAME_US / 1e6,
                    uri=segment_name(s.msn) if s.complete else None,
                    parts=tuple(
                        PartEntry(self._part_name(p), p.frames * FRAME_US / 1e6) for p in s.parts
                    )
                    if s.parts_listed
                    else (),
                )
                for s in segments
            ),
            part_target=self.part_frames * FRAME_US / 1e6,
            preload_hint=hint,
            discontinuity_sequence=self.discontinuity,
            dateranges=tuple(dateranges),
            ended=self.ended,
        ).render()
