"""Bad bytes on any topic end up on stoa.dead-letter with a reason; nothing stalls."""

import base64
import json
import time

import httpx
import pytest

from infra.localstack import Stack, token
from tests.kafka_client import consume, produce

pytestmark = pytest.mark.slow

UNKNOWN = json.dumps({"type": "RoomTeleported", "room_id": "r-dl", "data": {}}).encode()
GARBAGE = b"\x00\xffnot json at all"


def test_undecodable_messages_are_dead_lettered_and_rooms_keep_working(stack: Stack) -> None:
    headers = token(stack.gateway_url, "hana")
    room = httpx.post(
        f"{stack.gateway_url}/v1/rooms",
        json={"title": "DLQ", "start_now": True},
        headers=headers,
        timeout=20,
    ).json()
    rid = room["room_id"]
    poisoned = {
        ("stoa.commands", GARBAGE),
        ("stoa.commands", UNKNOWN),
        ("stoa.presence", GARBAGE),
        ("stoa.presence", UNKNOWN),
        ("stoa.room-events", GARBAGE),
        ("stoa.room-state", GARBAGE),
        ("stoa.presence-counts", UNKNOWN),
        ("stoa.command-results", GARBAGE),
    }
    for topic, payload in poisoned:
        produce(stack.broker.bootstrap, topic, rid, payload)

    # the room's writer is past the poison: the next command is answered normally
    promoted = httpx.put(
        f"{stack.gateway_url}/v1/rooms/{rid}/speakers/sam", headers=headers, timeout=20
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["speaker_ids"] == ["sam"]

    deadline = time.monotonic() + 20
    found: set[tuple[str, bytes]] = set()
    letters: list[dict[str, object]] = []
    while time.monotonic() < deadline and not poisoned <= found:
        letters = [
            json.loads(m["payload"]) for m in consume(stack.broker.bootstrap, "stoa.dead-letter")
        ]
        found = {
            (str(d["source_topic"]), base64.b64decode(str(d["payload_b64"])))
            for d in letters
            if d["key"] == rid
        }
        time.sleep(0.3)
    assert poisoned <= found, f"missing dead letters: {poisoned - found}; got {letters}"
    reasons = {str(d["error"]) for d in letters if d["key"] == rid}
    assert any("not JSON" in r for r in reasons)
    assert any("unknown" in r and "RoomTeleported" in r for r in reasons)
    assert all(d["consumer"] for d in letters)
