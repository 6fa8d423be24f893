"""A command nobody answers is appended again; the room applies it once."""

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from infra.localstack import Stack, token
from tests.kafka_client import consume

pytestmark = pytest.mark.slow


def test_unanswered_command_is_resent_and_applied_once(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path, env={"STOA_COMMAND_TIMEOUT": "60"}).start_broker()
    try:
        stack.start_gateway()  # no worker yet: nobody can answer
        headers = token(stack.gateway_url, "patient-host")
        outcome: dict[str, httpx.Response] = {}

        def create() -> None:
            outcome["response"] = httpx.post(
                f"{stack.gateway_url}/v1/rooms",
                json={"title": "Resent", "start_now": True},
                headers=headers,
                timeout=90,
            )

        caller = threading.Thread(target=create)
        caller.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            copies = consume(stack.broker.bootstrap, "stoa.commands")
            if (
                len({json.loads(c["payload"])["command_id"] for c in copies}) == 1
                and len(copies) >= 2
            ):
                break
            time.sleep(0.5)
        assert len(copies) >= 2, "the gateway should have appended the command again"

        stack.start_worker()
        caller.join(timeout=80)
        response = outcome["response"]
        assert response.status_code == 201, response.text
        room = response.json()
        assert room["status"] == "live" and room["version"] == 2

        events = [
            json.loads(r["payload"])
            for r in consume(stack.broker.bootstrap, "stoa.room-events")
            if r["key"] == room["room_id"]
        ]
        assert [(e["seq"], e["type"]) for e in events] == [(1, "RoomCreated"), (2, "RoomStarted")]
    finally:
        stack.stop()
