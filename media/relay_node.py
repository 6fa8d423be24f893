"""A relay node: rooms' mixed streams from upstream to child relays and listeners.

Its own process (``python -m media.relay_node`` or ``stoa relay --upstream URL``),
started by ``stoa up`` or alone on any host that reaches the broker and its
upstream (the room's mixing node or another relay). It serves the same
``GET /v1/rooms/{id}/listen`` WebSocket as the mixing node, so a listener or a
child relay cannot tell the two apart, and a relay holds no state a restart
would lose: everything it knows comes from its upstream and the log.

* **Rooms on demand.** The first subscriber to a room opens a ``Feed`` to the
  upstream; the room is dropped a while after its last subscriber leaves.
* **Admission.** The relay follows ``stoa.room-state`` and asks the same rule as
  the mixing node (``projections.admission``) at connect time and again at
  every change of the room: a removed listener is closed here too.
* **Tiers.** The mixing node tells its subscribers the room's tier; the relay
  moves each listener whose path (``projections.tiers.path_for``) is no longer
  the relay: to the mixing node (the room got small, a hand went up) or to HLS.
* **Load.** Every ``RELAY_REPORT_SECONDS`` it reports where it is and what it
  carries on ``stoa.relay-load``; placement is decided from those reports.
* **Failover.** If its upstream dies the feed reconnects to the upstream's
  siblings or the mixing node (``projections.placement.upstreams``) and resumes
  from its last seq, backfilled from the new upstream's ring.
"""

import asyncio
import contextlib
import gc
import logging
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

from events.admin import ensure_topics
from events.producer import LogProducer
from events.readmodel import RoomReadModel
from infra.node_args import node_arguments, start_node, until_stopped
from infra.settings import Settings
from media.directory import RelayDirectory
from media.feed import Feed
from media.listen import moved_message
from media.relay import RelayRoom, Subscriber
from media.routing import Routes
from media.tokens import MediaTokens, TokenRefused
from media.wrap import MOD32
from projections.admission import admit
from projections.tiers import Tier, path_for
from schemas.base import utcnow
from schemas.commands import Rejection
from schemas.relay import RELAY_REPORT_SECONDS, RelayLoad
from schemas.topics import RELAY_LOAD

log = logging.getLogger("stoa.relay")

ROOM_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
IDLE_SECONDS = 10.0
"""A room with no subscribers keeps its feed this long: a listener coming back finds it warm."""
STATE_WAIT_SECONDS = 2.0
"""How long a connect waits for a room the relay has not heard of yet (a brand-new room)."""
STATE_FETCH_WAIT_MS = 50
"""The relay's read model of rooms may lag by this much (25 ms on average): a removal takes
effect here that much later than on the mixing node, for far less polling of the broker."""
SEND_BUFFER = 16_384
"""Kernel send buffer per subscriber: small, so a stalled reader shows within seconds."""


@dataclass(frozen=True)
class RelayConfig:
    relay_id: str
    upstream: str
    """Base URL of the node this relay subscribes to (http or https)."""
    public_url: str
    """Base URL children and listeners reach this relay at."""
    origin: str | None = None
    """Base URL of the mixing node: the last resort upstream, and where listeners go back to."""
    capacity: int = 500
    batch: int = 10


def problem(request: web.Request, status: int, code: str, detail: str) -> web.Response:
    body = {
        "type": f"/problems/{code}",
        "title": {401: "Not signed in", 403: "Not allowed", 404: "Not found"}.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response(
        body, status=status, content_type="application/problem+json", headers=headers
    )


class RoomLink:
    """One room at this relay: the fan-out (``RelayRoom``) and the feed from upstream."""

    def __init__(self, node: "RelayNode", room_id: str, start_at: int | None = None) -> None:
        self.node = node
        self.room = RelayRoom(room_id)
        self.tier: Tier | None = None
        """The room's tier as the mixing node last said; nobody is moved before it has."""
        self.origin = node.config.origin
        # a room opened for a resuming listener starts where it left off: the upstream's
        # ring fills the hole, rather than this relay starting live and leaving one
        self.feed = Feed(node.http, room_id, node.upstreams, node.relay_token, self, start_at)
        self.idle_since: float | None = None
        self.task = asyncio.create_task(self._run(), name=f"stoa.relay.{room_id}")

    @property
    def room_id(self) -> str:
        return self.room.room_id

    def records(self, records: list[tuple[int, bytes]]) -> None:
        self.room.records(records)

    def text(self, message: str, parsed: dict[str, Any]) -> None:
        kind = str(parsed["type"])
        self.room.text(message, kind)
        if kind == "tier" and parsed.get("tier") in ("direct", "relay", "hls"):
            self.tier = parsed["tier"]
            self.origin = str(parsed.get("origin") or self.origin or "") or None
            self.node.route(self)

    def gap(self, first: int, last: int) -> None:
        self.room.gap(first, last)

    async def _run(self) -> None:
        try:
            await self.feed.run()
        finally:
            ended = self.feed.final_status == 200
            self.room.close(1000 if ended else 1011, "the room ended" if ended else "no upstream")
            self.node.rooms.pop(self.room_id, None)


class RelayNode:
    def __init__(self, config: RelayConfig, settings: Settings, bootstrap: str) -> None:
        self.config = config
        self.bootstrap = bootstrap
        self.tokens = MediaTokens(settings.auth_secret, settings.media_token_ttl)
        self.producer = LogProducer(bootstrap, f"stoa-relay-{config.relay_id}")
        self.states = RoomReadModel(bootstrap, self.producer, fetch_wait_ms=STATE_FETCH_WAIT_MS)
        self.directory = RelayDirectory(bootstrap, self.producer, f"stoa.relay.{config.relay_id}")
        self.rooms: dict[str, RoomLink] = {}
        self.http: aiohttp.ClientSession
        self._relay_token = ""
        self._relay_token_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Future[bool]] = set()

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        await self.producer.start()
        await self.states.start()
        await self.directory.start()
        self.states.watch(self._room_changed)
        self.http = aiohttp.ClientSession()
        self._tasks = [
            asyncio.create_task(self._report_loop(), name="stoa.relay.report"),
            asyncio.create_task(self._idle_loop(), name="stoa.relay.idle"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for link in list(self.rooms.values()):
            link.task.cancel()
        await asyncio.gather(*self._tasks, *(link.task for link in self.rooms.values()),
                             return_exceptions=True)  # fmt: skip
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._report("gone"), 1.0)
        await self.http.close()
        await self.directory.stop()
        await self.states.stop()
        await self.producer.stop()

    def relay_token(self) -> str:
        if time.monotonic() - self._relay_token_at > 600:
            self._relay_token = self.tokens.issue_relay(self.config.relay_id)
            self._relay_token_at = time.monotonic()
        return self._relay_token

    def upstreams(self) -> list[str]:
        config = self.config
        return self.directory.upstreams(config.upstream, config.origin, config.public_url)

    # --- subscribers -------------------------------------------------------

    async def listen(self, request: web.Request) -> web.StreamResponse:
        room_id = request.match_info["room_id"]
        if not ROOM_ID.match(room_id):
            return problem(request, 404, "room_not_found", f"Room {room_id} does not exist.")
        try:
            grant = self.tokens.grant(request.query.get("token", ""), room_id)
        except TokenRefused as refused:
            return problem(request, refused.status, refused.code, refused.detail)
        if not grant.relay:
            state = await self._state(room_id)
            admitted = admit(state, room_id, grant.user_id, "listen", grant.role)
            if isinstance(admitted, Rejection):
                return problem(request, admitted.status, admitted.code, admitted.detail)
        resume = _int(request.query.get("from"), 0, MOD32 - 1)
        batch = 1 if grant.relay else _int(request.query.get("batch"), 1, 10) or self.config.batch
        link = self.rooms.get(room_id) or self._open(room_id, resume)
        ws = web.WebSocketResponse(max_msg_size=4096, autoping=True)
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

        def hang_up(code: int, reason: str) -> None:
            closing = asyncio.ensure_future(ws.close(code=code, message=reason.encode()))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

        user_id = "" if grant.relay else grant.user_id
        subscriber = Subscriber(transport, user_id, batch, hang_up, token_role=grant.role)
        link.room.subscribe(subscriber, resume)
        link.idle_since = None
        if not grant.relay:
            self.route(link, [subscriber])
        try:
            async for _ in ws:
                pass  # listeners have nothing to say; the loop ends when they go
        finally:
            link.room.unsubscribe(subscriber)
            if not link.room.subscribers:
                link.idle_since = time.monotonic()
        return ws

    async def _state(self, room_id: str) -> Any:
        deadline = time.monotonic() + STATE_WAIT_SECONDS
        while (state := self.states.rooms.get(room_id)) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return state

    def _open(self, room_id: str, start_at: int | None = None) -> RoomLink:
        link = RoomLink(self, room_id, start_at)
        self.rooms[room_id] = link
        return link

    def _room_changed(self, room_id: str) -> None:
        link = self.rooms.get(room_id)
        if link is not None:
            self.route(link)

    def route(self, link: RoomLink, subscribers: list[Subscriber] | None = None) -> None:
        """Re-admit listeners after a change, and move those whose path is no longer here."""
        state = self.states.rooms.get(link.room_id)
        for subscriber in subscribers if subscribers is not None else link.room.subscribers:
            if subscriber.is_relay or subscriber.closed:
                continue
            role = subscriber.token_role
            admitted = admit(state, link.room_id, subscriber.user_id, "listen", role)
            if isinstance(admitted, Rejection):
                subscriber.close(4000 + admitted.status, admitted.detail)
                continue
            if link.tier is None:
                continue
            assert state is not None
            path = path_for(link.tier, admitted.role, state.hand_raised(subscriber.user_id))
            if path == "relay" or subscriber.moved_to == path or link.origin is None:
                continue
            routes = Routes(self.directory, self.tokens, link.origin)
            target = routes.move(link.room_id, subscriber.user_id, admitted.role, path)
            if target is not None:
                subscriber.moved_to = path
                subscriber.tell_text(moved_message(target[1], target[0], link.tier))

    # --- background --------------------------------------------------------

    async def _report(self, state: Literal["up", "gone"] = "up") -> None:
        rooms = list(self.rooms.values())
        stats = [link.room.stats() for link in rooms]
        report = RelayLoad(
            relay_id=self.config.relay_id,
            url=self.config.public_url,
            upstream=self.config.upstream,
            listeners=sum(s["listeners"] for s in stats),
            relays=sum(s["relays"] for s in stats),
            capacity=self.config.capacity,
            rooms=tuple(link.room_id for link in rooms),
            state=state,
            reported_at=utcnow(),
        )
        await self.producer.send(RELAY_LOAD.name, self.config.relay_id, report)

    async def _report_loop(self) -> None:
        while True:
            try:
                await self._report()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker is away: keep serving, report again later
                log.exception("relay %s: load report failed", self.config.relay_id)
            await asyncio.sleep(RELAY_REPORT_SECONDS)

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for link in list(self.rooms.values()):
                if link.idle_since is not None and now - link.idle_since > IDLE_SECONDS:
                    link.task.cancel()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/rooms/{room_id}/listen", self.listen)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        rooms = {link.room_id: link.room.stats() for link in self.rooms.values()}
        ready = self.states.caught_up
        body = {"status": "ok" if ready else "starting", "relay_id": self.config.relay_id,
                "rooms": rooms}  # fmt: skip
        return web.json_response(body, status=200 if ready else 503)


def _int(raw: str | None, low: int, high: int) -> int | None:
    """A query parameter as an int within bounds, or None when absent or malformed."""
    if raw is None or not raw.isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None


async def serve(
    config: RelayConfig, settings: Settings, bootstrap: str, host: str, port: int
) -> None:
    await ensure_topics(bootstrap, settings.partitions)
    node = RelayNode(config, settings, bootstrap)
    await node.start()
    runner = web.AppRunner(node.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    # Connections are long-lived and numerous: keep startup objects out of every full
    # collection, and collect the old generation rarely (a full pass over ~10,000
    # connections paused a server for a quarter second while clients connected).
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    log.info("relay %s on %s, upstream %s", config.relay_id, config.public_url, config.upstream)
    print(f"relay {config.relay_id} listening on {config.public_url}", flush=True)
    try:
        await until_stopped()
    finally:
        await node.stop()
        await runner.cleanup()


def main() -> None:
    parser = node_arguments("Run one Stoa relay")
    parser.add_argument("--origin", help="base URL of the mixing node (default: the upstream)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", help="base URL clients reach this relay at")
    parser.add_argument("--id", help="relay id (default: a fresh one)")
    start = start_node(parser)
    args, settings = start.args, start.settings
    config = RelayConfig(
        relay_id=args.id or f"relay-{uuid.uuid4().hex[:8]}",
        upstream=args.upstream.rstrip("/"),
        public_url=(args.public_url or f"http://{args.host}:{args.port}").rstrip("/"),
        origin=(args.origin or args.upstream).rstrip("/"),
        capacity=settings.relay_capacity,
        batch=settings.relay_batch,
    )
    asyncio.run(serve(config, settings, start.bootstrap, args.host, args.port))


if __name__ == "__main__":
    main()
