"""A whole room over HTTP against the real broker, stream worker and gateway."""

import json
import time
from collections import defaultdict
from typing import Any

import httpx
import jsonschema
import pytest

from infra.localstack import Stack, token
from schemas.export import load
from tests.kafka_client import consume

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


class Client:
    def __init__(self, base: str, user: str) -> None:
        self.user = user
        self.http = httpx.Client(base_url=base, headers=token(base, user), timeout=20)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert len(body["detail"]) > 10, "the detail should be a sentence a human can act on"
    return body


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_full_room_scenario(stack: Stack) -> None:
    host, lee, max_ = (Client(stack.gateway_url, u) for u in ("hana", "lee", "max"))

    created = host.post("/v1/rooms", json={"title": "Morning show", "topics": ["news", "tech"]})
    assert created.status_code == 201, created.text
    room = created.json()
    rid = room["room_id"]
    assert room["status"] == "scheduled" and room["host_id"] == "hana" and room["version"] == 1

    assert_problem(lee.post(f"/v1/rooms/{rid}/join"), 409)  # not started yet
    assert_problem(lee.post(f"/v1/rooms/{rid}/start"), 403)  # only the host starts
    live = host.post(f"/v1/rooms/{rid}/start").json()
    assert live["status"] == "live" and live["started_at"]

    joined = lee.post(f"/v1/rooms/{rid}/join")
    assert joined.status_code == 200, joined.text
    assert joined.json()["role"] == "listener" and joined.json()["publish"] is None
    assert joined.json()["listen"]["websocket"].startswith("ws://")
    assert max_.post(f"/v1/rooms/{rid}/join").status_code == 200
    counted = eventually(lambda: host.get(f"/v1/rooms/{rid}").json()["listener_count"] == 2)
    assert counted, host.get(f"/v1/rooms/{rid}").json()

    hand = lee.post(f"/v1/rooms/{rid}/hand").json()
    assert [h["user_id"] for h in hand["hands"]] == ["lee"]
    assert_problem(lee.post(f"/v1/rooms/{rid}/hand"), 409)
    body = assert_problem(max_.put(f"/v1/rooms/{rid}/speakers/lee"), 403)
    assert body["code"] == "not_moderator"

    promoted = host.put(f"/v1/rooms/{rid}/speakers/lee").json()
    assert promoted["speaker_ids"] == ["lee"] and promoted["hands"] == []
    rejoined = lee.post(f"/v1/rooms/{rid}/join").json()
    assert rejoined["role"] == "speaker" and rejoined["publish"]["whip"].endswith("/whip")

    muted = host.put(f"/v1/rooms/{rid}/mutes/lee").json()
    assert muted["muted_ids"] == ["lee"]
    removed = host.put(f"/v1/rooms/{rid}/removals/lee").json()
    assert "lee" not in removed["speaker_ids"] and "lee" not in removed["muted_ids"]
    assert assert_problem(lee.post(f"/v1/rooms/{rid}/join"), 403)["code"] == "removed"
    assert_problem(lee.post(f"/v1/rooms/{rid}/hand"), 403)
    assert (
        assert_problem(host.put(f"/v1/rooms/{rid}/speakers/lee"), 409)["code"] == "target_removed"
    )
    counted = eventually(lambda: host.get(f"/v1/rooms/{rid}").json()["listener_count"] == 1)
    assert counted, "the removed listener must stop counting"

    report = max_.post(f"/v1/rooms/{rid}/reports", json={"target_user_id": "lee", "reason": "spam"})
    assert report.status_code == 201 and report.json()["report_id"]
    chapter = host.post(f"/v1/rooms/{rid}/chapters", json={"title": "Q&A"}).json()
    assert chapter["chapters"][0]["title"] == "Q&A"

    ended = host.post(f"/v1/rooms/{rid}/end").json()
    assert ended["status"] == "ended" and ended["ended_at"]
    assert assert_problem(host.post(f"/v1/rooms/{rid}/start"), 409)["code"] == "room_ended"
    assert_problem(max_.post(f"/v1/rooms/{rid}/join"), 409)
    final = host.get(f"/v1/rooms/{rid}").json()
    assert final["status"] == "ended" and final["peak_listeners"] == 2

    assert_log_matches_schemas(stack, rid, expected_seq=final["version"])


def assert_log_matches_schemas(stack: Stack, room_id: str, expected_seq: int) -> None:
    """A bare aiokafka client, not our code, reads the log; each message fits its schema."""
    schemas = load()
    seqs: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))

    for message in consume(stack.broker.bootstrap, "stoa.room-events"):
        if message["key"] != room_id:
            continue  # other tests share the broker (and one of them writes poison on purpose)
        event = json.loads(message["payload"])
        jsonschema.Draft202012Validator(schemas[f"event.{event['type']}"]).validate(event)
        assert message["key"] == event["room_id"]
        seqs[event["room_id"]][event["seq"]].add(event["event_id"])
    assert seqs, "no events for the room on the log"
    for room, by_seq in seqs.items():
        assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"gap in {room}"
        assert all(len(ids) == 1 for ids in by_seq.values()), f"two events share a seq in {room}"
    assert max(seqs[room_id]) == expected_seq


def test_malformed_body_is_422_problem(stack: Stack) -> None:
    host = Client(stack.gateway_url, "hana")
    body = assert_problem(host.post("/v1/rooms", json={"title": "", "topics": "nope"}), 422)
    assert "title" in body["detail"] and body["errors"]
    broken = host.post(
        "/v1/rooms", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(broken, 422)
    assert_problem(host.post("/v1/rooms", json={"title": "x", "surprise": 1}), 422)


def test_unknown_room_and_missing_token(stack: Stack) -> None:
    host = Client(stack.gateway_url, "hana")
    assert assert_problem(host.get("/v1/rooms/no-such-room"), 404)["code"] == "room_not_found"
    assert_problem(host.put("/v1/rooms/no-such-room/speakers/x"), 404)
    anonymous = httpx.post(f"{stack.gateway_url}/v1/rooms", json={"title": "x"})
    assert_problem(anonymous, 401)
    forged = httpx.post(
        f"{stack.gateway_url}/v1/rooms",
        json={"title": "x"},
        headers={"Authorization": "Bearer not.a.jwt"},
    )
    assert_problem(forged, 401)


def test_openapi_and_ops_endpoints(stack: Stack) -> None:
    spec = httpx.get(f"{stack.gateway_url}/openapi.json").json()
    assert "/v1/rooms/{room_id}/speakers/{user_id}" in spec["paths"]
    assert httpx.get(f"{stack.gateway_url}/healthz").json()["status"] == "ok"
    metrics = httpx.get(f"{stack.gateway_url}/metrics").text
    assert "stoa_commands_total" in metrics
