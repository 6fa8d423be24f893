"""A whole stack in child processes (broker, workers, gateways), for tests and benchmarks."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.broker import EmbeddedBroker, free_port
from infra.orphans import supervised_env

ROOT = Path(__file__).resolve().parent.parent


def stoa_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("STOA_KAFKA_BOOTSTRAP", "STOA_DATA_DIR")
    }
    env.update(
        {
            "STOA_DATA_DIR": str(data_dir),
            "STOA_PARTITIONS": "4",
            "STOA_DEV_AUTH": "true",
            "STOA_SESSION_TIMEOUT": "4",
            **extra,
        }
    )
    return env


@dataclass
class Relay:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Stack:
    """A broker plus any number of workers and gateways, stopped together."""

    data_dir: Path
    broker: EmbeddedBroker = field(default_factory=EmbeddedBroker)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateway_url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start_broker(self) -> "Stack":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.broker.log_path = self.data_dir / "broker.log"
        self.broker.start()
        return self

    def _spawn(
        self, args: list[str], log_name: str, cpus: str | None = None
    ) -> subprocess.Popen[bytes]:
        """A Python child; with ``cpus`` (taskset's list) it runs only there, from birth."""
        log = open(self.data_dir / log_name, "ab")  # noqa: SIM115
        pin = ["taskset", "-c", cpus] if cpus else []
        process = subprocess.Popen(
            [*pin, sys.executable, *args],
            cwd=ROOT,
            env={**stoa_env(self.data_dir, **self.env), **supervised_env()},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        return self._spawn(
            [
                "-m",
                "streams.worker",
                "--bootstrap",
                self.broker.bootstrap,
                "--web-port",
                str(free_port()),
            ],
            f"{name}.log",
        )

    def start_archiver(self) -> subprocess.Popen[bytes]:
        return self._spawn(
            ["-m", "streams.archiver", "--bootstrap", self.broker.bootstrap], "archiver.log"
        )

    def archive_url(self, timeout: float = 30) -> str:
        """The running archiver's query endpoint, once it answers."""
        address = self.data_dir / "run" / "archive"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if address.exists():
                url = address.read_text().strip()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        return url
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"no archiver answered within {timeout}s")

    def start_gateway(self) -> str:
        port = free_port()
        self._spawn(
            ["-m", "api.serve", "--bootstrap", self.broker.bootstrap, "--port", str(port)],
            "gateway.log",
        )
        self.gateway_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.gateway_url}/healthz", timeout=30)
        return self.gateway_url

    def start_relay(
        self, upstream: str | None = None, name: str = "relay", cpus: str | None = None
    ) -> "Relay":
        """A relay subscribing to ``upstream`` (default: the gateway, the mixing node)."""
        port = free_port()
        process = self._spawn(
            [
                "-m", "media.relay_node",
                "--bootstrap", self.broker.bootstrap,
                "--upstream", upstream or self.gateway_url,
                "--origin", self.gateway_url,
                "--port", str(port),
                "--id", f"{name}-{port}",
            ],
            f"{name}-{port}.log",
            cpus,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", timeout=30)
        return Relay(url, process)

    def start_segmenter(self, upstream: str | None = None) -> subprocess.Popen[bytes]:
        """The HLS segmenter, following ``upstream`` (default: the gateway) into this stack's
        object store (``DATA_DIR/objects``, which the gateway serves HLS from)."""
        return self._spawn(
            [
                "-m", "media.hls_node",
                "--bootstrap", self.broker.bootstrap,
                "--upstream", upstream or self.gateway_url,
            ],
            "segmenter.log",
        )  # fmt: skip

    def start_recorder(self, upstream: str | None = None) -> subprocess.Popen[bytes]:
        """The room recorder, following ``upstream`` (default: the gateway) into this stack's
        object store (``DATA_DIR/objects/recordings/``); its log is ``recorder.log``."""
        return self._spawn(
            [
                "-m", "media.recorder_node",
                "--bootstrap", self.broker.bootstrap,
                "--upstream", upstream or self.gateway_url,
            ],
            "recorder.log",
        )  # fmt: skip

    def start_asr(self, name: str = "asr", timeout: float = 90.0) -> subprocess.Popen[bytes]:
        """A speech-to-text worker (``media.asr.worker``) with id ``name``, returned once its
        models are loaded and it consumes (its ready line in ``NAME.log``)."""
        log = self.data_dir / f"{name}.log"
        before = log.read_bytes().count(b"transcribing") if log.exists() else 0
        process = self._spawn(
            ["-m", "media.asr.worker", "--bootstrap", self.broker.bootstrap, "--id", name],
            f"{name}.log",
        )
        deadline = time.monotonic() + timeout
        while not (log.exists() and log.read_bytes().count(b"transcribing") > before):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ASR worker did not start: see {log}")
            time.sleep(0.1)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        self.broker.stop()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def token(base_url: str, user_id: str) -> dict[str, str]:
    response = httpx.post(f"{base_url}/v1/auth/dev-token", json={"user_id": user_id}, timeout=5)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_worker_ready(base_url: str, timeout: float = 60) -> None:
    """The worker has joined its group once a command gets an answer."""
    headers = token(base_url, "readiness-probe")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{base_url}/v1/rooms", json={"title": "probe"}, headers=headers, timeout=15
        )
        if response.status_code == 201:
            return
        time.sleep(0.2)
    raise TimeoutError("stream worker never answered")


@contextlib.contextmanager
def single_node(data_dir: Path, **env: str) -> Iterator[Stack]:
    """Broker, one worker and one gateway, ready for commands; stopped on exit."""
    stack = Stack(data_dir=data_dir, env=env).start_broker()
    try:
        stack.start_worker()
        stack.start_gateway()
        wait_worker_ready(stack.gateway_url)
        yield stack
    finally:
        stack.stop()
