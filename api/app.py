"""The FastAPI application and its lifetime: producer, bus, read model, presence edge."""

import functools
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import docs, openapi, problems
from api.auth import Authenticator
from api.bus import CommandBus
from api.hls import router as hls_router
from api.media import page_router as media_page_router
from api.media import router as media_router
from api.metrics import GatewayMetrics
from api.moderation import router as moderation_router
from api.presence import PresenceBatcher
from api.problems import Problem
from api.ratelimit import RateLimiter
from api.recordings import router as recordings_router
from api.rooms import router as rooms_router
from api.search import router as search_router
from api.transcripts import TranscriptArchive
from api.transcripts import router as transcripts_router
from api.views import AuthConfig, DevTokenBody, Health, RoomIdPath, RoomView, TokenOut
from events.admin import ensure_topics
from events.flags import QueueReadModel
from events.manifests import ManifestReadModel
from events.producer import LogProducer
from events.readmodel import RoomReadModel
from infra.addresses import archive_file
from infra.objects import ObjectStoreClient
from infra.settings import Settings
from media.listeners import WsListener
from media.plane import MediaPlane

STATIC = Path(__file__).parent / "static"
KEEP_ALIVE_SECONDS = 75
"""How long an idle HTTP connection stays open. Longer than clients keep theirs (httpx and
aiohttp 5 s, browsers up to 60 s), so a client never sends on a connection the server is
closing at that moment (uvicorn's default is 5 s: the same as httpx's, a race that loses
a request now and then as a ReadError)."""


class RequestTiming:
    """Latency per route and status, as plain ASGI (BaseHTTPMiddleware costs a task per request)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).observe(time.perf_counter() - started)


def _media_plane(
    app: FastAPI, bootstrap: str, producer: LogProducer, rooms: RoomReadModel
) -> MediaPlane:
    """The SFU, mixers and listeners run in the gateway process (``stoa up`` runs them)."""
    metrics: GatewayMetrics = app.state.metrics

    def view(room_id: str) -> dict[str, object] | None:
        state = rooms.rooms.get(room_id)
        if state is None:
            return None
        return RoomView.of(state, rooms.listener_counts(room_id)).model_dump(mode="json")

    settings: Settings = app.state.settings
    plane = MediaPlane(
        bootstrap,
        producer,
        state=rooms.rooms.get,
        view=view,
        tokens=app.state.auth.media,
        origin=settings.origin_url,
        tier=rooms.tier,
        observe_enforcement=lambda action, s: metrics.media_enforcement.labels(action).observe(s),
        observe_tick=metrics.media_tick.observe,
        observe_captions=lambda room_id, health: metrics.captions_changes.labels(health).inc(),
    )
    for health in ("live", "behind", "failed", "unavailable"):
        metrics.captions_rooms.labels(health).set_function(
            functools.partial(plane.captions.count, health)
        )
    metrics.media_sessions.labels("whip").set_function(lambda: len(plane.sfu.sessions))
    metrics.media_sessions.labels("whep").set_function(lambda: len(plane.whep.sessions))
    metrics.media_sessions.labels("websocket").set_function(
        lambda: sum(
            isinstance(listener, WsListener)
            for hub in plane.hubs.rooms.values()
            for listener in hub.listeners
        )
    )
    rooms.watch(plane.room_changed)
    return plane


def create_app(settings: Settings, bootstrap: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(bootstrap, settings.partitions)
        producer = await LogProducer(bootstrap, "stoa-gateway").start()
        bus = CommandBus(bootstrap, producer, settings.command_timeout)
        rooms = RoomReadModel(bootstrap, producer)
        manifests = ManifestReadModel(bootstrap, producer)
        queues = QueueReadModel(bootstrap, producer)
        await bus.start()
        await rooms.start()
        await manifests.start()
        await queues.start()
        app.state.bus, app.state.rooms, app.state.manifests = bus, rooms, manifests
        app.state.queues, app.state.producer = queues, producer
        app.state.objects = ObjectStoreClient.from_settings(settings)
        app.state.presence = PresenceBatcher(producer)
        app.state.transcripts = TranscriptArchive(settings.clickhouse_url, archive_file(settings))
        app.state.media = media = _media_plane(app, bootstrap, producer, rooms)
        await media.start()
        gc.freeze()  # long-lived startup objects leave the collector's view: shorter pauses
        try:
            yield
        finally:
            app.state.transcripts.close()
            await media.stop()
            await queues.stop()
            await manifests.stop()
            await rooms.stop()
            await bus.stop()
            await producer.stop()

    app = FastAPI(
        title="Stoa",
        version="0.1.0",
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # api.docs serves /docs and /redoc without a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.auth = Authenticator(settings)
    app.state.metrics = GatewayMetrics()
    app.state.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    problems.install(app)
    openapi.install(app)
    docs.install(app)
    app.include_router(rooms_router)
    app.include_router(recordings_router)
    app.include_router(transcripts_router)
    app.include_router(search_router)
    app.include_router(moderation_router)
    app.include_router(media_router)
    app.include_router(hls_router)
    app.include_router(media_page_router)
    # The pages' own scripts (ES modules) and what `make install` vendors from npm (hls.js).
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(RequestTiming, metrics=app.state.metrics)

    @app.post(
        "/v1/auth/dev-token",
        response_model=TokenOut,
        tags=["auth"],
        responses=problems.responses(404, 422),
    )
    async def dev_token(body: DevTokenBody) -> TokenOut:
        """Sign in as anyone: only when ``STOA_DEV_AUTH`` is on (``stoa up`` turns it on)."""
        if not settings.dev_auth:
            raise Problem(404, "dev_auth_disabled", "Dev tokens are disabled on this server.")
        return TokenOut(token=app.state.auth.issue_user_token(body.user_id, body.display_name))

    @app.get("/v1/auth/config", response_model=AuthConfig, tags=["auth"])
    async def auth_config() -> AuthConfig:
        """How the app signs people in here: dev tokens, or a redirect to the issuer."""
        return AuthConfig(dev_auth=settings.dev_auth, login_url=settings.login_url)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        """The app's home: live and scheduled rooms, sign-in, a new room."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/rooms/{room_id}", include_in_schema=False)
    async def room_page(room_id: RoomIdPath) -> FileResponse:
        """One room, at a URL people share: the page reads the id from its own address."""
        return FileResponse(STATIC / "room.html", media_type="text/html")

    @app.get("/recordings/{recording_id}", include_in_schema=False)
    async def recording_page(recording_id: uuid.UUID) -> FileResponse:
        """A recording's replay page: player, chapters, speaker turns, clips."""
        return FileResponse(STATIC / "recording.html", media_type="text/html")

    @app.get(
        "/healthz",
        tags=["ops"],
        response_model=Health,
        responses={503: {"model": Health, "description": "Still catching up with the log."}},
    )
    async def healthz(request: Request) -> Response:
        rooms = getattr(request.app.state, "rooms", None)
        ready = rooms is not None and rooms.caught_up
        body = {"status": "ok" if ready else "starting", "read_model_caught_up": ready}
        return Response(
            content=json.dumps(body),
            status_code=200 if ready else 503,
            media_type="application/json",
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics, in its text exposition format."""
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
