"""``stoa up``: broker, archive, stream worker, relays, segmenter, recorder, speech-to-text
worker and gateway, supervised.

Start order: broker; restore from the archive if the broker is empty and the
archive is not; the archiver; the worker; the HLS segmenter, the recorder and the relays
(which subscribe to the gateway's rooms and retry until it answers); the
gateway, which is also the mixing node. Ctrl-C (or SIGTERM) stops them in
reverse, each with a deadline; the archiver drains the log's tail before it
exits, since the embedded broker forgets everything.
"""

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from api.app import KEEP_ALIVE_SECONDS, create_app
from events.admin import ensure_topics
from events.archive import restore as archive_restore
from events.archive.migrations import migrate
from events.archive.store import ClickHouseArchive, connect
from infra.addresses import bootstrap_file, chdb_dir
from infra.broker import EmbeddedBroker, free_port
from infra.orphans import supervised_env
from infra.settings import Settings

console = Console(stderr=True)


def start_child(
    module: str, settings: Settings, args: list[str], log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STOA_DATA_DIR": str(settings.data_dir),
        "STOA_PARTITIONS": str(settings.partitions),
        **supervised_env(),
    }
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        # Ctrl-C in a terminal signals the whole foreground group; the children must instead
        # stop in order (gateway, worker, archiver draining the log, broker), driven by us
        start_new_session=True,
    )


def start_worker(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    args = ["--bootstrap", bootstrap, "--web-port", str(free_port())]
    return start_child("streams.worker", settings, args, log_path)


def start_archiver(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    return start_child("streams.archiver", settings, ["--bootstrap", bootstrap], log_path)


def start_segmenter(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """The HLS segmenter, following the gateway (the mixing node) into the object store."""
    args = ["--bootstrap", bootstrap, "--upstream", settings.origin_url]
    return start_child("media.hls_node", settings, args, log_path)


def start_recorder(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """The room recorder, following the gateway (the mixing node) into the object store."""
    args = ["--bootstrap", bootstrap, "--upstream", settings.origin_url]
    return start_child("media.recorder_node", settings, args, log_path)


def start_relay(
    settings: Settings, bootstrap: str, name: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """A relay subscribing to the gateway (the mixing node), on a port of its own."""
    port = free_port()
    args = [
        "--bootstrap", bootstrap,
        "--upstream", settings.origin_url,
        "--host", settings.host,
        "--port", str(port),
        "--id", name,
    ]  # fmt: skip
    return start_child("media.relay_node", settings, args, log_path)


def start_asr(
    settings: Settings, bootstrap: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """A speech-to-text worker; ``stoa asr`` on other hosts adds more to its group."""
    return start_child("media.asr.worker", settings, ["--bootstrap", bootstrap], log_path)


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildWatch(threading.Thread):
    """Restarts a child process if it dies, backing off so a crash cannot become a hot loop."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        super().__init__(daemon=True, name=f"{name}-watch")
        self.label = name
        self._start = start
        self.process = start()
        self._stopping = threading.Event()

    def run(self) -> None:
        backoff = 1.0
        while not self._stopping.wait(0.5):
            if self.process.poll() is None:
                continue
            code = self.process.returncode
            console.print(f"[red]{self.label} exited ({code}); restarting in {backoff:.0f}s[/]")
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
            self.process = self._start()

    def stop(self, grace: float) -> None:
        self._stopping.set()
        stop_process(self.process, grace)


def stop_together(watches: list[tuple[ChildWatch, float]]) -> None:
    """Stop independent children at once, each with its own grace: the stop then takes
    the slowest one's time, not the sum (under load the sum passed five seconds)."""
    threads = [threading.Thread(target=watch.stop, args=(grace,)) for watch, grace in watches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def restore_if_empty(settings: Settings, bootstrap: str) -> int:
    """Give an empty broker its log back from the archive, before anything reads the log."""
    client = connect(settings.clickhouse_url, chdb_dir(settings))
    try:
        migrate(client)
        archive = ClickHouseArchive(client)
        plan = archive_restore.plan(archive)
        if plan.total == 0 or not asyncio.run(archive_restore.broker_is_empty(bootstrap)):
            return 0
        started = time.monotonic()
        with Progress(
            "[green]restoring the log from the archive",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("restore", total=plan.total)
            sent = asyncio.run(
                archive_restore.restore(
                    archive,
                    bootstrap,
                    settings.partitions,
                    plan,
                    lambda n: bar.advance(task, n),
                )
            )
        elapsed = time.monotonic() - started
        console.print(
            f"[green]restored[/] {sent} records from the archive in {elapsed:.1f}s "
            f"({sent / max(elapsed, 1e-9):,.0f}/s)"
        )
        return sent
    finally:
        client.close()


class Gateway(uvicorn.Server):
    """The HTTP server, saying "Stoa is up" once it answers: after its read models caught
    up with the log and its port is bound, so the printed address works when it appears."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            url = f"http://{self.config.host}:{self.config.port}"
            console.print(f"[bold green]Stoa is up:[/] {url}  (API docs {url}/docs; Ctrl-C stops)")


def up(settings: Settings) -> None:
    # SIGTERM (systemd, docker stop, a parent's kill) stops the stack like Ctrl-C: uvicorn
    # re-raises the signal it caught, and with the default action the process would die
    # before stopping its children, which run in their own sessions
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stopping_since = time.monotonic()

    def report() -> None:
        console.print(f"[yellow]stopped[/] in {time.monotonic() - stopping_since:.1f}s")

    with contextlib.suppress(KeyboardInterrupt), contextlib.ExitStack() as stack:
        stack.callback(report)
        try:
            run_stack(settings, stack)
        finally:
            stopping_since = time.monotonic()


def run_stack(settings: Settings, stack: contextlib.ExitStack) -> None:
    """Start each part and register its stop; the stack stops them in reverse order."""
    data_dir = Path(settings.data_dir)
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        broker = EmbeddedBroker(log_path=data_dir / "logs" / "broker.log").start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
        console.print(f"[green]embedded broker[/] Tansu on {bootstrap} (memory storage)")
    else:
        console.print(f"[green]broker[/] {bootstrap}")
    bootstrap_file(settings).write_text(bootstrap)
    stack.callback(lambda: bootstrap_file(settings).unlink(missing_ok=True))
    asyncio.run(ensure_topics(bootstrap, settings.partitions))
    restore_if_empty(settings, bootstrap)
    logs = data_dir / "logs"
    archiver = ChildWatch(
        "archiver", lambda: start_archiver(settings, bootstrap, logs / "archiver.log")
    )
    archiver.start()
    stack.callback(archiver.stop, grace=4.0)
    console.print(
        f"[green]archiver[/] pid {archiver.process.pid} → {settings.clickhouse_url or 'chDB'}"
    )
    # the stream worker and the media side (segmenter, recorder, speech-to-text, relays)
    # stop together right after the gateway, the archiver after them all so that it keeps
    # what they wrote on the way out; what the worker has not folded by then, it folds on
    # its next start (the log is the truth)
    together: list[tuple[ChildWatch, float]] = []
    stack.callback(stop_together, together)
    watch = ChildWatch(
        "stream worker", lambda: start_worker(settings, bootstrap, logs / "worker.log")
    )
    watch.start()
    together.append((watch, 3.0))
    console.print(f"[green]stream worker[/] pid {watch.process.pid}")
    segmenter = ChildWatch(
        "hls segmenter", lambda: start_segmenter(settings, bootstrap, logs / "segmenter.log")
    )
    segmenter.start()
    together.append((segmenter, 2.0))
    console.print(f"[green]hls segmenter[/] pid {segmenter.process.pid} → {settings.object_store}")
    recorder = ChildWatch(
        "recorder", lambda: start_recorder(settings, bootstrap, logs / "recorder.log")
    )
    recorder.start()
    together.append((recorder, 3.0))  # writes the chunks it holds before it exits
    console.print(f"[green]recorder[/] pid {recorder.process.pid} → {settings.object_store}")
    asr = ChildWatch("asr worker", lambda: start_asr(settings, bootstrap, logs / "asr.log"))
    asr.start()
    together.append((asr, 2.0))
    console.print(f"[green]asr worker[/] pid {asr.process.pid} ({settings.asr_engine})")
    for n in range(1, settings.relays + 1):
        relay = ChildWatch(
            f"relay {n}",
            functools.partial(
                start_relay, settings, bootstrap, f"relay-{n}", logs / f"relay-{n}.log"
            ),
        )
        relay.start()
        together.append((relay, 2.0))
        console.print(f"[green]relay {n}[/] pid {relay.process.pid}")
    server = Gateway(
        uvicorn.Config(
            create_app(settings, bootstrap),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    server.run()  # until Ctrl-C or SIGTERM, which uvicorn re-raises as KeyboardInterrupt
