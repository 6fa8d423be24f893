"""A supervised child whose supervisor is gone stops, even if its own stop hangs."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import signal, time
from infra.orphans import watch_supervisor
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a shutdown that never finishes
watch_supervisor(interval=0.05, grace=0.5)
print("watching", flush=True)
time.sleep(60)
"""

SUPERVISOR = """
import os, subprocess, sys
from infra.orphans import supervised_env
child = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1]], env={**os.environ, **supervised_env()},
    stdout=subprocess.PIPE, stderr=open(sys.argv[2], "w"), text=True,
)
assert child.stdout is not None and child.stdout.readline().strip() == "watching"
print(child.pid, flush=True)
os.kill(os.getpid(), 9)  # gone without stopping anyone
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_an_orphan_whose_stop_hangs_exits_after_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    supervisor = subprocess.run(
        [sys.executable, "-c", SUPERVISOR, CHILD, str(log)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    child = int(supervisor.stdout.split()[0])
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the orphan ignored its missing supervisor"
    assert "supervisor gone and no clean stop after 0.5 s" in log.read_text()
