"""``stoa replay``: the room as it was, rebuilt from the log by the same folds."""

import json
import subprocess
import sys
import time

import httpx
import pytest

from infra.localstack import ROOT, Stack, token

pytestmark = pytest.mark.slow


def stoa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replay_room_at_seq_and_time_and_rebuild(stack: Stack) -> None:
    client = httpx.Client(
        base_url=stack.gateway_url, headers=token(stack.gateway_url, "rita"), timeout=20
    )
    room = client.post("/v1/rooms", json={"title": "Time travel", "start_now": True}).json()
    rid = room["room_id"]
    after_promote = client.put(f"/v1/rooms/{rid}/speakers/sol").json()
    time.sleep(0.05)
    midpoint = time.time()
    time.sleep(0.05)
    client.put(f"/v1/rooms/{rid}/mutes/sol")
    final = client.put(f"/v1/rooms/{rid}/removals/sol").json()
    boot = stack.broker.bootstrap

    at_seq = stoa(
        "replay", "--room", rid, "--seq", str(after_promote["version"]), "--bootstrap", boot
    )
    assert at_seq.returncode == 0, at_seq.stderr
    then = json.loads(at_seq.stdout)
    assert then["version"] == after_promote["version"] == 3
    assert then["speaker_ids"] == ["sol"] and then["removed_ids"] == []

    instant = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(midpoint))
        + f".{int(midpoint % 1 * 1e6):06d}Z"
    )
    at_time = json.loads(stoa("replay", "--room", rid, "--at", instant, "--bootstrap", boot).stdout)
    assert at_time["version"] == 3 and at_time["muted_ids"] == []

    now = json.loads(stoa("replay", "--room", rid, "--bootstrap", boot).stdout)
    assert now["version"] == final["version"] and now["removed_ids"] == ["sol"]

    rebuilt = stoa("replay", "--rebuild", "--bootstrap", boot)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "0 differed" in rebuilt.stdout, rebuilt.stdout

    missing = stoa("replay", "--room", "never-existed", "--bootstrap", boot)
    assert missing.returncode == 1
