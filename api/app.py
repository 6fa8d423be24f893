"""The FastAPI application and its lifetime: producer, bus, read model, presence edge."""

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import problems
from api.auth import Authenticator
from api.bus import CommandBus
from api.metrics import GatewayMetrics
from api.presence import PresenceBatcher
from api.problems import Problem
from api.readmodel import RoomReadModel
from api.rooms import router as rooms_router
from api.views import DevTokenBody, TokenOut
from events.admin import ensure_topics
from events.producer import LogProducer
from infra.settings import Settings


def create_app(settings: Settings, bootstrap: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(bootstrap, settings.partitions)
        producer = await LogProducer(bootstrap, "stoa-gateway").start()
        bus = CommandBus(bootstrap, producer, settings.command_timeout)
        rooms = RoomReadModel(bootstrap, producer)
        await bus.start()
        await rooms.start()
        app.state.bus, app.state.rooms = bus, rooms
        app.state.presence = PresenceBatcher(producer)
        try:
            yield
        finally:
            await rooms.stop()
            await bus.stop()
            await producer.stop()

    app = FastAPI(
        title="Stoa",
        version="0.1.0",
        description="Live audio rooms. Errors are RFC 9457 application/problem+json.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth = Authenticator(settings)
    app.state.metrics = GatewayMetrics()
    problems.install(app)
    app.include_router(rooms_router)

    @app.middleware("http")
    async def _timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        app.state.metrics.requests.labels(
            getattr(route, "path", "unmatched"), str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response

    @app.post("/v1/auth/dev-token", response_model=TokenOut, tags=["auth"])
    async def dev_token(body: DevTokenBody) -> TokenOut:
        """Sign in as anyone: only when ``STOA_DEV_AUTH`` is on (``stoa up`` turns it on)."""
        if not settings.dev_auth:
            raise Problem(404, "dev_auth_disabled", "Dev tokens are disabled on this server.")
        return TokenOut(token=app.state.auth.issue_user_token(body.user_id, body.display_name))

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> Response:
        rooms = getattr(request.app.state, "rooms", None)
        ready = rooms is not None and rooms.caught_up
        body = {"status": "ok" if ready else "starting", "read_model_caught_up": ready}
        return Response(
            content=json.dumps(body),
            status_code=200 if ready else 503,
            media_type="application/json",
        )

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
