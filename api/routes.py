"""The app's routes as one flat list: the methods each path answers (``Allow``), its pages."""

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from starlette.routing import Mount, WebSocketRoute, compile_path
from starlette.staticfiles import StaticFiles


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    """HTTP methods answered; empty for a WebSocket route or a mount of another app."""
    include_in_schema: bool
    regex: re.Pattern[str]
    kind: Literal["http", "websocket", "mount"] = "http"


def _flat(routes: Iterable[Any]) -> Iterable[Any]:
    # Recent FastAPI keeps included routers as branches, which iter_route_contexts flattens
    # (FastAPI's own OpenAPI generation walks it); older versions flatten them on include.
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    return flatten(list(routes)) if flatten is not None else routes


def iter_routes(app: FastAPI) -> Iterator[RouteInfo]:
    for route in _flat(app.routes):
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        original = getattr(route, "original_route", route)
        include = bool(getattr(route, "include_in_schema", False))
        if isinstance(original, Mount):
            mounted = getattr(route, "app", None)
            methods = {"GET", "HEAD"} if isinstance(mounted, StaticFiles) else set()
            regex = compile_path(path.rstrip("/") + "/{path:path}")[0]
            yield RouteInfo(path, frozenset(methods), False, regex, "mount")
            continue
        regex = compile_path(path)[0]
        if isinstance(original, WebSocketRoute) or getattr(route, "methods", None) is None:
            yield RouteInfo(path, frozenset(), include, regex, "websocket")
            continue
        yield RouteInfo(path, frozenset(route.methods), include, regex)


def route_path(scope: Mapping[str, Any]) -> str:
    """The request's path as routes see it (without the ``root_path`` it is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every HTTP method some route answers at ``path`` (for ``Allow`` on a 405)."""
    methods: set[str] = set()
    for route in iter_routes(app):
        if route.methods and route.regex.match(path):
            methods |= route.methods
    return sorted(methods)
