"""``GET /v1/rooms``: the home page's list, from the gateway's index, over HTTP."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.media_clients import act, dev_token, join, live_room

pytestmark = pytest.mark.slow


async def listed(http: aiohttp.ClientSession, query: str) -> dict[str, Any]:
    async with http.get(f"/v1/rooms?{query}") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def test_live_rooms_are_listed_by_audience_and_pages_continue(
    http: aiohttp.ClientSession,
) -> None:
    quiet, _ = await live_room(http, "list-host-1", "list-sam", title="Quiet")
    busy, _ = await live_room(http, "list-host-2", title="Busy")
    for n in range(3):
        await join(http, busy, f"list-fan-{n}")

    async def order() -> list[str]:
        body = await listed(http, "status=live&limit=100")
        return [r["room_id"] for r in body["rooms"] if r["room_id"] in (quiet, busy)]

    deadline = asyncio.get_running_loop().time() + 10  # listener counts come from the log
    while await order() != [busy, quiet] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert await order() == [busy, quiet]
    body = await listed(http, "status=live&limit=100")
    quiet_row = next(r for r in body["rooms"] if r["room_id"] == quiet)
    assert quiet_row["stage_ids"] == ["list-host-1", "list-sam"]
    assert quiet_row["title"] == "Quiet" and quiet_row["status"] == "live"

    first = await listed(http, "status=live&limit=1")
    assert len(first["rooms"]) == 1 and first["next"]
    second = await listed(http, f"status=live&limit=1&cursor={first['next']}")
    assert second["rooms"] != first["rooms"]


async def test_scheduled_rooms_are_listed_by_start_and_leave_when_started(
    http: aiohttp.ClientSession,
) -> None:
    token = await dev_token(http, "list-planner")
    headers = {"Authorization": f"Bearer {token}"}
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    async with http.post(
        "/v1/rooms", json={"title": "Tomorrow", "scheduled_for": when}, headers=headers
    ) as response:
        room_id = (await response.json())["room_id"]

    async def scheduled() -> list[str]:
        body = await listed(http, "status=scheduled&limit=100")
        return [r["room_id"] for r in body["rooms"]]

    assert room_id in await scheduled()
    await act(http, token, "POST", f"/v1/rooms/{room_id}/start")
    assert room_id not in await scheduled()  # the command's answer updated the index


async def test_a_cursor_that_is_not_ours_is_a_clear_422(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/rooms?cursor=bogus") as response:
        assert response.status == 422
        problem = await response.json()
        assert problem["code"] == "bad_cursor"


async def test_the_app_learns_how_to_sign_in(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/auth/config") as response:
        assert await response.json() == {"dev_auth": True, "login_url": None}
