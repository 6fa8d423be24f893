"""``stoa up`` runs the whole stack on embedded defaults and Ctrl-C stops it quickly."""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from infra.broker import EmbeddedBroker, free_port
from infra.localstack import ROOT, wait_http, wait_worker_ready
from tests.kafka_client import consume

pytestmark = pytest.mark.slow


def start_stoa_up(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """``stoa up`` as a user runs it, in its own data dir; returns the process and its URL."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STOA_")}
    stoa = Path(ROOT / ".venv" / "bin" / "stoa")
    command = [str(stoa)] if stoa.exists() else ["stoa"]
    process = subprocess.Popen(
        [*command, "up", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
        cwd=tmp_path,
        env={**environment, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a shell job
    )
    return process, f"http://127.0.0.1:{port}"


def ctrl_c(process: subprocess.Popen[str]) -> None:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
    os.killpg(process.pid, signal.SIGINT)


def read_until(process: subprocess.Popen[str], line: str, timeout: float) -> list[str]:
    """``process``'s output lines up to the first containing ``line``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while not lines or line not in lines[-1]:
        assert time.monotonic() < deadline, f"never printed {line!r}: {lines}"
        lines.append(process.stdout.readline())
        assert lines[-1] or process.poll() is None, f"exited before {line!r}: {lines}"
    return lines


def test_stoa_up_serves_rooms_and_stops_within_five_seconds(tmp_path: Path) -> None:
    process, base = start_stoa_up(tmp_path)
    port = base.rsplit(":", 1)[1]
    try:
        printed = read_until(process, "Stoa is up", timeout=90)
        assert f"Stoa is up: http://127.0.0.1:{port}" in printed[-1]
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # already answering
        wait_worker_ready(base)
        bootstrap = (tmp_path / "data" / "run" / "bootstrap").read_text()
        broker_port = int(bootstrap.rsplit(":", 1)[1])
        token = httpx.post(f"{base}/v1/auth/dev-token", json={"user_id": "ann"}).json()["token"]
        room = httpx.post(
            f"{base}/v1/rooms",
            json={"title": "Up", "start_now": True},
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert room.status_code == 201 and room.json()["status"] == "live"

        worker_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(process.pid), "-f", "streams.worker"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        os.kill(worker_pid, signal.SIGKILL)  # the supervisor must bring a worker back
        wait_worker_ready(base, timeout=60)
    finally:
        started = time.monotonic()
        ctrl_c(process)
        output, _ = process.communicate(timeout=15)
        stopped_in = time.monotonic() - started
    assert process.returncode == 0, output
    assert stopped_in < 5, f"took {stopped_in:.1f}s to stop"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=1)
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", broker_port), timeout=1).close()


def test_stoa_up_uses_configured_kafka_and_starts_no_broker(tmp_path: Path) -> None:
    """With STOA_KAFKA_BOOTSTRAP set, the stack joins that cluster instead of embedding one."""
    external = EmbeddedBroker(log_path=tmp_path / "external.log").start()
    process, base = start_stoa_up(tmp_path, STOA_KAFKA_BOOTSTRAP=external.bootstrap)
    try:
        wait_http(f"{base}/healthz", timeout=60)
        wait_worker_ready(base)
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "tansu"], capture_output=True, text=True
        ).stdout.split()
        assert children == [], "an embedded broker was started although Kafka was configured"
        events = consume(external.bootstrap, "stoa.room-events")
        assert events, "the stack did not write to the configured cluster"
    finally:
        ctrl_c(process)
        output, _ = process.communicate(timeout=15)
        external.stop()
    assert "embedded broker" not in output
    assert external.bootstrap in output


def test_children_stop_when_stoa_up_itself_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the supervisor no chance to clean up; its children notice and stop."""
    process, base = start_stoa_up(tmp_path)
    try:
        wait_http(f"{base}/healthz", timeout=60)
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
        children = [int(pid) for pid in found.stdout.split()]
        python_children = [
            pid for pid in children if "python" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(python_children) >= 2, children  # archiver and worker
    finally:
        process.kill()
        process.communicate(timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        Path(f"/proc/{pid}").exists() for pid in python_children
    ):
        time.sleep(0.2)
    left = [pid for pid in python_children if Path(f"/proc/{pid}").exists()]
    for pid in children:  # the broker binary cannot watch; clean up after the test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after their supervisor died: {left}"
