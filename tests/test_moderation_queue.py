"""The moderator queue: an automated flag and a person's report, resolved over HTTP and
from the room page.

A flag is appended to ``stoa.moderation`` as the speech worker appends it; the
real flag agent folds it with the room's reports into the room's queue, and
resolving it with ``mute`` goes through the room's decider like the host's own
mute would.
"""

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from events.producer import LogProducer
from infra.localstack import Stack
from schemas.base import utcnow
from schemas.events import SegmentFlagged, SegmentFlaggedData
from schemas.topics import MODERATION
from tests.app_pages import app_page
from tests.media_clients import act, dev_token, live_room

pytestmark = pytest.mark.slow


async def flag_speech(stack: Stack, room_id: str, speaker: str, text: str) -> uuid.UUID:
    """Append a flag as the speech worker does."""
    flag_id = uuid.uuid4()
    flag = SegmentFlagged(
        event_id=uuid.uuid4(), room_id=room_id, actor_id="stoa-asr", occurred_at=utcnow(),
        data=SegmentFlaggedData(
            flag_id=flag_id, segment_id=uuid.uuid4(), category="threat", score=0.97,
            start_seconds=12.0, end_seconds=14.5, speaker_id=speaker, text=text,
        ),
    )  # fmt: skip
    producer = await LogProducer(stack.broker.bootstrap, "test-asr").start()
    try:
        await producer.send(MODERATION.name, room_id, flag)
    finally:
        await producer.stop()
    return flag_id


async def queue(http: aiohttp.ClientSession, token: str, room_id: str, status: str = "open") -> Any:
    return await act(http, token, "GET", f"/v1/moderation/flags?room_id={room_id}&status={status}")


async def resolve(
    http: aiohttp.ClientSession, token: str, item_id: object, action: str
) -> tuple[int, Any]:
    async with http.post(
        f"/v1/moderation/flags/{item_id}/resolve",
        json={"action": action},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        return r.status, await r.json()


async def test_a_flag_and_a_report_are_resolved_from_the_queue(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    room_id, host = await live_room(http, "mod-host", "mod-loud", title="Moderated")
    flag_id = await flag_speech(
        stack, room_id, "mod-loud", "you are a stupid idiot and I will hurt you"
    )
    amy = await dev_token(http, "mod-amy")
    async with http.post(
        f"/v1/rooms/{room_id}/reports",
        json={"reason": "harassment", "target_user_id": "mod-loud"},
        headers={"Authorization": f"Bearer {amy}"},
    ) as r:
        assert r.status == 201, await r.text()

    items: list[dict[str, Any]] = []
    for _ in range(100):
        items = (await queue(http, host, room_id))["items"]
        if len(items) == 2:
            break
        await asyncio.sleep(0.1)
    assert [(i["kind"], i["category"]) for i in items] == [
        ("report", "harassment"),  # a person's report counts as certain: first
        ("flag", "threat"),
    ]
    flagged = items[1]
    assert (flagged["user_id"], flagged["start_seconds"]) == ("mod-loud", 12.0)
    assert flagged["score"] == 0.97 and flagged["text"].startswith("you are a stupid idiot")

    # not a moderator: no queue, no resolving
    async with http.get(
        f"/v1/moderation/flags?room_id={room_id}", headers={"Authorization": f"Bearer {amy}"}
    ) as r:
        assert r.status == 403
    assert (await resolve(http, amy, flag_id, "dismiss"))[0] == 403
    assert (await resolve(http, host, uuid.uuid4(), "dismiss"))[0] == 404

    # mute: the real command, through the room's rules
    status, done = await resolve(http, host, flag_id, "mute")
    assert status == 200, done
    assert (done["open"], done["action"], done["resolved_by"]) == (False, "mute", "mod-host")
    room = await act(http, host, "GET", f"/v1/rooms/{room_id}")
    assert "mod-loud" in room["muted_ids"]
    status, again = await resolve(http, host, flag_id, "dismiss")
    assert status == 409 and again["code"] == "already_resolved"

    assert (await resolve(http, host, items[0]["item_id"], "dismiss"))[0] == 200
    assert (await queue(http, host, room_id))["items"] == []
    everything = (await queue(http, host, room_id, "all"))["items"]
    assert {(i["kind"], i["action"]) for i in everything} == {
        ("flag", "mute"),
        ("report", "dismiss"),
    }


async def test_the_host_mutes_a_flagged_speaker_from_the_room_page(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    room_id, host = await live_room(http, "modpage-host", "modpage-loud", title="Queue room")
    async with app_page(browser, stack.gateway_url, "modpage-host") as page:
        await page.goto(f"/rooms/{room_id}#token={host}")
        await expect(page.page.locator("#room-status")).to_have_text("Live")
        await expect(page.page.locator("#flags-empty")).to_be_visible()
        await flag_speech(stack, room_id, "modpage-loud", "I will hurt you, idiot")
        item = page.page.locator("#flags li", has_text="I will hurt you, idiot")
        await expect(item).to_be_visible(timeout=10_000)
        await expect(item).to_contain_text("threat (97 %) — modpage-loud at 0:12")
        await expect(page.page.locator("#notice")).to_contain_text("New in the moderation queue")
        await page.assert_accessible("room page, host with a flag in the queue")
        await page.shot("room-host-moderation-queue")
        await item.get_by_role("button", name="Mute: threat flag on modpage-loud").click()
        await expect(page.page.locator("#flags li")).to_have_count(0)
        await expect(page.page.locator("#stage li", has_text="modpage-loud")).to_contain_text(
            "Muted", timeout=10_000
        )
    room = await act(http, host, "GET", f"/v1/rooms/{room_id}")
    assert "modpage-loud" in room["muted_ids"]
