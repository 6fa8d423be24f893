"""``stoa up``: broker, stream worker and gateway under one supervisor.

Ctrl-C (or SIGTERM) stops the gateway, then the worker, then the broker, each
with a deadline, so the whole stack is down within five seconds.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from rich.console import Console

from api.app import create_app
from events.admin import ensure_topics
from infra.addresses import bootstrap_file
from infra.broker import EmbeddedBroker, free_port
from infra.settings import Settings

console = Console(stderr=True)


def start_worker(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STOA_DATA_DIR": str(settings.data_dir),
        "STOA_PARTITIONS": str(settings.partitions),
    }
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.worker",
            "--bootstrap",
            bootstrap,
            "--web-port",
            str(free_port()),
        ],
        env=env,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class WorkerWatch(threading.Thread):
    """Restarts the stream worker if it dies, backing off so a crash cannot become a hot loop."""

    def __init__(self, settings: Settings, bootstrap: str, log_path: Path) -> None:
        super().__init__(daemon=True, name="worker-watch")
        self._args = (settings, bootstrap, log_path)
        self.process = start_worker(*self._args)
        self._stopping = threading.Event()

    def run(self) -> None:
        backoff = 1.0
        while not self._stopping.wait(0.5):
            if self.process.poll() is None:
                continue
            code = self.process.returncode
            console.print(f"[red]stream worker exited ({code}); restarting in {backoff:.0f}s[/]")
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
            self.process = start_worker(*self._args)

    def stop(self, grace: float) -> None:
        self._stopping.set()
        stop_process(self.process, grace)


def up(settings: Settings) -> None:
    data_dir = Path(settings.data_dir)
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker | None = None
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        broker = EmbeddedBroker(log_path=data_dir / "logs" / "broker.log").start()
        bootstrap = broker.bootstrap
        console.print(f"[green]embedded broker[/] Tansu on {bootstrap} (memory storage)")
    else:
        console.print(f"[green]broker[/] {bootstrap}")
    bootstrap_file(settings).write_text(bootstrap)
    asyncio.run(ensure_topics(bootstrap, settings.partitions))
    watch = WorkerWatch(settings, bootstrap, data_dir / "logs" / "worker.log")
    watch.start()
    console.print(f"[green]stream worker[/] pid {watch.process.pid}")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, bootstrap),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]Stoa is up:[/] {url}  (API docs {url}/docs; Ctrl-C stops)")
    try:
        # uvicorn re-raises the Ctrl-C it handled; stopping is the expected outcome
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        started = time.monotonic()
        watch.stop(grace=3.0)
        if broker is not None:
            broker.stop()
        with contextlib.suppress(FileNotFoundError):
            bootstrap_file(settings).unlink()
        console.print(f"[yellow]stopped[/] in {time.monotonic() - started:.1f}s")
