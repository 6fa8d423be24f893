"""Python clients of the media plane: a WHIP publisher, a WHEP receiver, a WebSocket listener.

Not used by the server. Benchmarks and tests drive the SFU with them (as
bots would): the publisher sends pre-encoded Opus packets (no encode per
client, so one process can play many speakers), and the WHEP receiver counts
packets through ``OpusTap`` instead of decoding them.
"""

import asyncio
import contextlib
import io
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCPeerConnection, RTCSessionDescription

from media.listen import OpusRecord, decode_message
from media.opus import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder
from media.peer import close_quietly, new_peer_connection, prefer_opus
from media.tracks import OpusTap, PacketTrack, opus_packet, tap

SDP = "application/sdp"


class MediaRefused(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def read_pcm(path: str) -> npt.NDArray[np.float32]:
    """Any audio file as 48 kHz mono float32 (PyAV resamples)."""
    out: list[npt.NDArray[np.float32]] = []
    with av.open(path) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for resampled in resampler.resample(frame):
                out.append(resampled.to_ndarray().reshape(-1).astype(np.float32))
        for resampled in resampler.resample(None):
            out.append(resampled.to_ndarray().reshape(-1).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def encode_packets(
    pcm: npt.NDArray[np.float32], bitrate: int = 32000, silence_dbfs: float | None = None
) -> list[bytes | None]:
    """20 ms Opus packets of ``pcm``; with ``silence_dbfs``, quiet frames become ``None``.

    ``None`` stands for a frame a DTX sender would not send: the publisher
    skips it and the next packet's timestamp jumps, as with real DTX.
    """
    encoder = OpusEncoder(bitrate, application="voip")
    frames = len(pcm) // FRAME_SAMPLES
    packets: list[bytes | None] = []
    for i in range(frames):
        chunk = pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
        packet = encoder.encode(chunk)
        if silence_dbfs is not None:
            rms = float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2)) + 1e-12)
            if 20 * np.log10(rms) < silence_dbfs:
                packets.append(None)
                continue
        packets.append(packet)
    return packets


async def _exchange(http: aiohttp.ClientSession, url: str, token: str, sdp: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SDP}
    async with http.post(url, data=sdp, headers=headers) as response:
        body = await response.text()
        if response.status != 201:
            raise MediaRefused(response.status, body)
        return body, response.headers["Location"]


async def _gathered_offer(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


@dataclass
class Publisher:
    """One speaker: a WHIP session sending a loop of pre-encoded packets."""

    pc: RTCPeerConnection
    track: PacketTrack
    location: str
    packets: Sequence[bytes | None]
    position: int = 0
    pts: int = 0

    def step(self) -> None:
        """Send the next 20 ms (or nothing, for a DTX gap); called by a shared clock."""
        payload = self.packets[self.position % len(self.packets)]
        self.position += 1
        if payload is not None:
            self.track.push(opus_packet(payload, self.pts))
        self.pts += FRAME_SAMPLES


async def publish(
    http: aiohttp.ClientSession, whip_url: str, token: str, packets: Sequence[bytes | None]
) -> Publisher:
    pc = new_peer_connection()
    track = PacketTrack()
    prefer_opus(pc.addTransceiver(track, direction="sendonly"))
    answer, location = await _exchange(http, whip_url, token, await _gathered_offer(pc))
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return Publisher(pc, track, location, packets)


async def unpublish(http: aiohttp.ClientSession, base_url: str, token: str, p: Publisher) -> None:
    with contextlib.suppress(aiohttp.ClientError):
        await http.delete(base_url + p.location, headers={"Authorization": f"Bearer {token}"})
    await close_quietly(p.pc)


async def pace(publishers: Sequence[Publisher], seconds: float) -> None:
    """Step every publisher every 20 ms for ``seconds`` (one clock for all of them)."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    end = next_at + seconds
    while next_at < end:
        for publisher in publishers:
            publisher.step()
        next_at += FRAME_SAMPLES / SAMPLE_RATE
        await asyncio.sleep(max(0.0, next_at - loop.time()))


@dataclass
class Receiver:
    """A WHEP listener that counts the packets it receives without decoding them."""

    pc: RTCPeerConnection
    location: str
    taps: list[OpusTap] = field(default_factory=list)
    arrivals: list[int] = field(default_factory=list)

    @property
    def packets(self) -> int:
        return sum(t.packets for t in self.taps)


async def receive(
    http: aiohttp.ClientSession,
    whep_url: str,
    token: str,
    keep_arrivals: bool = False,
    tracks: int = 1,
) -> Receiver:
    """A WHEP session; ``tracks`` > 1 asks for client-side mixing (one track per speaker)."""
    pc = new_peer_connection()
    receiver = Receiver(pc, "")

    def sink(seq: int, timestamp: int, payload: bytes, arrival_us: int) -> None:
        if keep_arrivals:
            receiver.arrivals.append(arrival_us)

    for _ in range(tracks):
        transceiver = pc.addTransceiver("audio", direction="recvonly")
        prefer_opus(transceiver)
        receiver.taps.append(tap(transceiver.receiver, sink))
    url = whep_url + ("?mixing=client" if tracks > 1 else "")
    answer, receiver.location = await _exchange(http, url, token, await _gathered_offer(pc))
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return receiver


@dataclass
class Heard:
    """One Opus record as a WebSocket listener got it."""

    record: OpusRecord
    received_us: int


@dataclass
class WsListener:
    """Collects what ``GET /listen`` sends: Opus records and JSON texts."""

    heard: list[Heard] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, http: aiohttp.ClientSession, url: str) -> None:
        try:
            async with http.ws_connect(url, max_msg_size=0) as ws:
                async for message in ws:
                    now = time.time_ns() // 1000
                    if message.type == aiohttp.WSMsgType.BINARY:
                        self.heard.extend(Heard(r, now) for r in decode_message(message.data))
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        self.texts.append(message.data)
        finally:
            self.closed.set()


def decode_records(records: Sequence[OpusRecord]) -> npt.NDArray[np.float32]:
    """The listener's audio: records decoded in ``seq`` order, gaps filled with silence."""
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "mono"
    ordered = sorted(records, key=lambda r: r.seq)
    out: list[npt.NDArray[np.float32]] = []
    previous: int | None = None
    for record in ordered:
        if previous is not None and record.seq > previous + 1:
            out.append(np.zeros((record.seq - previous - 1) * FRAME_SAMPLES, dtype=np.float32))
        previous = record.seq
        for frame in decoder.decode(av.Packet(record.payload)):
            samples = frame.to_ndarray().reshape(-1)
            if samples.dtype != np.float32:
                samples = samples.astype(np.float32) / 32768.0
            out.append(samples.astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


@dataclass
class FollowingListener:
    """A WebSocket listener that does what the listen protocol asks of a client.

    On ``moved`` it opens the new path first (asking for the seq after the last
    one it has) and leaves the old one once the new one delivers; on a dropped
    connection it resumes on its fallbacks in turn. Every seq is kept once, in
    order; ``paths`` records where it listened, ``reported`` what servers said
    they could not send.
    """

    seqs: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    moves: list[dict[str, str]] = field(default_factory=list)
    reported: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Each kind of refusal a playlist request met (the segmenter may lag the room)."""
    rejoin: Callable[[], Awaitable[str]] | None = None
    """Joins again and returns the WebSocket URL to use (for leaving HLS, which says no URL)."""
    _readers: dict[str, "asyncio.Task[None]"] = field(default_factory=dict)
    _active: str | None = None
    _newest: str | None = None

    @property
    def where(self) -> str:
        return self.paths[-1] if self.paths else ""

    def missing(self) -> int:
        if not self.seqs:
            return 0
        return self.seqs[-1] - self.seqs[0] + 1 - len(self.seqs) - self.reported

    def _url(self, url: str) -> str:
        return url + (f"&from={(self.seqs[-1] + 1) % (1 << 32)}" if self.seqs else "")

    async def run(
        self, http: aiohttp.ClientSession, url: str, fallbacks: Sequence[str] = ()
    ) -> None:
        """Listen until the room ends or the task is cancelled."""
        urls = [url, *fallbacks]
        attempt = 0
        try:
            while not self.ended.is_set():
                current = urls[attempt % len(urls)]
                self._start(http, current)
                ended = asyncio.ensure_future(self.ended.wait())
                await asyncio.wait(
                    [*self._readers.values(), ended], return_when=asyncio.FIRST_COMPLETED
                )
                ended.cancel()
                while self._readers and not self.ended.is_set():
                    await asyncio.wait(list(self._readers.values()))
                attempt += 1
                await asyncio.sleep(0.05)
        finally:
            for reader in self._readers.values():
                reader.cancel()

    def _start(self, http: aiohttp.ClientSession, url: str, kind: str = "websocket") -> None:
        base = url.split("?")[0]
        if base not in self._readers:
            read = self._read_hls if kind == "hls" else self._read
            self._readers[base] = asyncio.create_task(read(http, url, base))
            self._newest = base

    def _take(self, base: str, seqs: list[int], delivered: bool) -> bool:
        """Keep the new seqs of the path being played.

        The path started last takes over as soon as it delivers anything, even a seq
        already played: a new path (a relay batching frames, HLS seconds behind) runs
        later than the one it replaces and could never overtake it while that one is
        still being played. Its first seqs repeat what was played (dropped: a pause,
        not a gap), then it continues from the last one.
        """
        if base != self._active:
            if base != self._newest or not seqs:
                return delivered
            self._active = base
            self.paths.append(base)
            for other, reader in list(self._readers.items()):
                if other != base:  # the new path delivers: leave the old one
                    reader.cancel()
        fresh = [seq for seq in seqs if not self.seqs or seq > self.seqs[-1]]
        self.seqs.extend(fresh)
        return True

    async def _read_hls(self, http: aiohttp.ClientSession, url: str, base: str) -> None:
        """HLS from the segment holding the next seq on; back to a WebSocket when the
        playlist's tier marker says the room left the ``hls`` tier."""
        delivered, init, left = False, b"", False
        folder = url.split("index.m3u8")[0]
        next_msn: int | None = None
        try:
            while not self.ended.is_set():
                async with http.get(url) as response:
                    playlist = await response.text() if response.status == 200 else ""
                    if response.status != 200 and response.status not in self.statuses:
                        self.statuses.append(response.status)
                listed = hls_listing(playlist)
                if not init and listed.init:
                    async with http.get(folder + listed.init) as response:
                        init = await response.read() if response.status == 200 else b""
                if next_msn is None and self.seqs:
                    next_msn = (self.seqs[-1] + 1) // HLS_SEGMENT_FRAMES
                for msn, uri in listed.segments:
                    if not init or (next_msn is not None and msn < next_msn):
                        continue
                    async with http.get(folder + uri) as response:
                        if response.status != 200:
                            self.errors.append(f"{uri.split('?')[0]}: {response.status}")
                            break
                        segment = await response.read()
                    try:
                        seqs = hls_seqs(init + segment)
                    except av.error.FFmpegError as exc:
                        self.errors.append(f"{uri.split('?')[0]}: {exc}")
                        break
                    delivered = self._take(base, seqs, delivered)
                    next_msn = msn + 1
                if listed.ended:
                    self.ended.set()
                if listed.tier not in (None, "hls") and not left and self.rejoin is not None:
                    left = True
                    self._start(http, await self.rejoin())
                await asyncio.sleep(0.2)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.errors.append(f"hls: {exc!r}")
        finally:
            self._readers.pop(base, None)

    async def _read(self, http: aiohttp.ClientSession, url: str, base: str) -> None:
        delivered = False
        try:
            async with http.ws_connect(self._url(url), max_msg_size=0, heartbeat=2.0) as ws:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        seqs = [r.seq for r in decode_message(message.data)]
                        delivered = self._take(base, seqs, delivered)
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        text = json.loads(message.data)
                        if text["type"] == "gap":
                            self.reported += (text["to"] - text["from"]) % (1 << 32) + 1
                        elif text["type"] == "moved":
                            self.moves.append(text)
                            self._start(http, text["url"], text.get("kind", "websocket"))
                        elif text["type"] == "room" and text.get("status") == "ended":
                            self.ended.set()
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
        finally:
            self._readers.pop(base, None)


HLS_SEGMENT_FRAMES = 50
"""Stoa's HLS segment ``n`` holds seqs ``[50n, 50n + 50)`` (``media.segmenter``)."""


@dataclass(frozen=True)
class HlsListing:
    init: str | None
    segments: list[tuple[int, str]]
    """``(media sequence number, URI)`` of each complete segment listed."""
    tier: str | None
    ended: bool


def hls_listing(playlist: str) -> HlsListing:
    """What a client needs from a media playlist: init, segments, the latest tier, the end."""
    init, tier, msn, segments = None, None, 0, []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            init = line.split('URI="', 1)[1].split('"', 1)[0]
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DATERANGE:") and 'X-TIER="' in line:
            tier = line.split('X-TIER="', 1)[1].split('"', 1)[0]
        elif line and not line.startswith("#"):
            segments.append((msn, line))
            msn += 1
    return HlsListing(init, segments, tier, "#EXT-X-ENDLIST" in playlist)


def hls_seqs(fragmented_mp4: bytes) -> list[int]:
    """The listen-protocol seqs of an init segment plus media segment (decode time / 960)."""
    with av.open(io.BytesIO(fragmented_mp4), mode="r", format="mp4") as container:
        return [
            int(packet.pts) // FRAME_SAMPLES
            for packet in container.demux(audio=0)
            if packet.pts is not None and packet.size
        ]
