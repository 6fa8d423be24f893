"""``stoa up`` stopped and started on the same data dir: the log comes back from the archive.

The embedded broker keeps nothing across a restart, so every room's state after
the second start comes from the archive's copy of the log; it must equal the
state before the stop, and new commands must continue each room's ``seq``.
"""

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.localstack import wait_http, wait_worker_ready
from tests.test_stoa_up import ctrl_c, start_stoa_up

pytestmark = pytest.mark.slow


def auth(base: str, user: str) -> dict[str, str]:
    token = httpx.post(f"{base}/v1/auth/dev-token", json={"user_id": user}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def call(base: str, method: str, path: str, user: str, **body: Any) -> dict[str, Any]:
    response = httpx.request(
        method, f"{base}{path}", json=body or None, headers=auth(base, user), timeout=20
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}


def build_rooms(base: str) -> list[str]:
    live = call(base, "POST", "/v1/rooms", "host", title="Kept", topics=["tech"], start_now=True)
    rid = live["room_id"]
    for user in ("l1", "l2", "l3"):
        call(base, "POST", f"/v1/rooms/{rid}/join", user)
    call(base, "POST", f"/v1/rooms/{rid}/hand", "l1")
    call(base, "POST", f"/v1/rooms/{rid}/hand", "l2")
    call(base, "PUT", f"/v1/rooms/{rid}/speakers/l1", "host")
    call(base, "PUT", f"/v1/rooms/{rid}/mutes/l1", "host")
    call(base, "POST", f"/v1/rooms/{rid}/chapters", "host", title="Intro")
    call(base, "POST", f"/v1/rooms/{rid}/leave", "l3")
    ended = call(base, "POST", "/v1/rooms", "host2", title="Done", start_now=True)["room_id"]
    call(base, "POST", f"/v1/rooms/{ended}/end", "host2")
    waiting = call(base, "POST", "/v1/rooms", "host3", title="Later")["room_id"]
    return [rid, ended, waiting]


def states(base: str, rooms: list[str]) -> dict[str, Any]:
    return {rid: httpx.get(f"{base}/v1/rooms/{rid}", timeout=10).json() for rid in rooms}


def children(process: subprocess.Popen[str]) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def stop(process: subprocess.Popen[str], terminate: bool = False) -> str:
    """Ctrl-C in a terminal, or SIGTERM to the supervisor alone (systemd, docker stop)."""
    kids = children(process)
    assert len(kids) >= 3, kids  # broker, archiver, worker
    if terminate:
        process.terminate()
    else:
        ctrl_c(process)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert not [pid for pid in kids if alive(pid)], "stoa up left processes behind"
    return output


def test_restart_restores_every_room_and_continues_seq(tmp_path: Path) -> None:
    process, base = start_stoa_up(tmp_path)
    try:
        wait_http(f"{base}/healthz", timeout=60)
        wait_worker_ready(base)
        rooms = build_rooms(base)
        before = states(base, rooms)
        assert before[rooms[0]]["listener_count"] == 2
    finally:
        stop(process, terminate=True)

    process, base = start_stoa_up(tmp_path)
    try:
        wait_http(f"{base}/healthz", timeout=90)
        wait_worker_ready(base)
        after = states(base, rooms)
        assert after == before
        live = rooms[0]
        raised = call(base, "POST", f"/v1/rooms/{live}/hand", "l3")
        assert raised["version"] == before[live]["version"] + 1
        ended = call(base, "POST", f"/v1/rooms/{rooms[2]}/start", "host3")
        assert ended["version"] == before[rooms[2]]["version"] + 1
    finally:
        output = stop(process)
    assert "restored" in output, output
