"""The ``stoa`` command."""

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from infra.addresses import archive_file, chdb_dir, running_bootstrap
from infra.moderation_cli import moderation
from infra.settings import Settings

if TYPE_CHECKING:
    from events.archive.store import Archive
    from schemas.room import RoomState

console = Console()


@click.group()
def main() -> None:
    """Stoa: live audio rooms on an event-sourced core."""


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--port", type=int, default=None)
@click.option("--host", default=None)
def up(data_dir: Path | None, port: int | None, host: str | None) -> None:
    """Run the whole stack on this machine (embedded broker unless STOA_KAFKA_BOOTSTRAP)."""
    from infra.supervisor import up as run_up

    overrides: dict[str, object] = {"dev_auth": True}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    settings = Settings(**overrides)  # type: ignore[arg-type]
    run_up(settings)


def _bootstrap(explicit: str | None) -> str:
    bootstrap = explicit or running_bootstrap(Settings())
    if not bootstrap:
        raise click.UsageError(
            "No broker: start the stack with 'stoa up', set STOA_KAFKA_BOOTSTRAP "
            "or pass --bootstrap."
        )
    return bootstrap


@main.command()
@click.option("--room", "room_id", help="Room to rebuild and print")
@click.option("--seq", type=int, default=None, help="Stop after this sequence number")
@click.option("--at", "at", default=None, help="Stop at this instant (RFC 3339)")
@click.option("--rebuild", is_flag=True, help="Recompute every room projection from the log")
@click.option(
    "--manifest", is_flag=True, help="Rebuild the room's recording manifest from the logs"
)
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: the running stack)")
@click.option("--from-archive", is_flag=True, help="Read the ClickHouse archive, not the broker")
def replay(
    room_id: str | None,
    seq: int | None,
    at: str | None,
    rebuild: bool,
    manifest: bool,
    bootstrap: str | None,
    from_archive: bool,
) -> None:
    """Time-travel debugging: the room as it was at a seq or an instant."""
    from infra import replay as r
    from projections.room import SequenceGap

    when = _instant(at)
    if from_archive:
        if rebuild or not room_id:
            raise click.UsageError("--from-archive replays one room: pass --room ROOM.")
        try:
            state = r.replay_room_from_archive(_archive(), room_id, seq, when)
        except SequenceGap as gap:
            console.print(f"[red]the archived log of room {room_id} has a gap:[/] {gap}")
            sys.exit(1)
        _print_state(state, room_id)
        return
    broker = _bootstrap(bootstrap)
    if rebuild:
        done = asyncio.run(r.rebuild(broker))
        console.print(
            f"rebuilt {len(done.states)} rooms from the log; {len(done.differing)} differed from "
            f"the published projection; {done.undecodable} undecodable records skipped"
        )
        for room in done.differing:
            console.print(f"  republished {room}")
        for room, why in sorted(done.gaps.items()):
            console.print(f"  [red]not rebuilt[/] {room}: {why}")
        if done.gaps:
            sys.exit(1)
        return
    if not room_id:
        raise click.UsageError("Pass --room ROOM (or --rebuild).")
    if manifest:
        replayed = asyncio.run(r.replay_manifest(broker, room_id))
        if replayed.rebuilt is None:
            console.print(f"[red]no room {room_id} in the log[/]")
            sys.exit(1)
        console.print_json(replayed.rebuilt.model_dump_json())
        same = replayed.rebuilt == replayed.published
        console.print("equal to the published manifest" if same else "[red]differs from the "
                      "published manifest[/] (the agent may still be catching up)")  # fmt: skip
        return
    try:
        state = asyncio.run(r.replay_room(broker, room_id, seq=seq, at=when))
    except SequenceGap as gap:
        console.print(f"[red]the log of room {room_id} has a gap:[/] {gap}")
        sys.exit(1)
    _print_state(state, room_id)


def _archive() -> "Archive":
    """The configured archive, through the running archiver when the stack is up."""
    from events.archive.remote import open_archive

    settings = Settings()
    return open_archive(
        settings.clickhouse_url, chdb_dir(settings), endpoint_file=archive_file(settings)
    )


def _instant(at: str | None) -> datetime | None:
    when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
    if when is not None and when.tzinfo is None:
        raise click.UsageError("--at needs a timezone, e.g. 2026-11-28T10:00:00Z")
    return when


def _print_state(state: "RoomState | None", room_id: str) -> None:
    if state is None:
        console.print(f"[red]room {room_id} has no events up to that point[/]")
        sys.exit(1)
    click.echo(json.dumps(state.model_dump(mode="json"), indent=2))


@main.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    help="table for people; csv or json for scripts",
)
def sql(query: str, fmt: str) -> None:
    """Run an analytics query on the archive (chDB, or STOA_CLICKHOUSE_URL) and print it."""
    from events.archive.remote import QueryError
    from infra.sql import render

    try:
        result = _archive().query(query)
    except QueryError as exc:
        console.print(f"[red]query failed:[/] {exc}")
        sys.exit(1)
    except Exception as exc:  # clickhouse-connect raises its own hierarchy per backend
        console.print(f"[red]query failed:[/] {exc}")
        sys.exit(1)
    click.echo(render(result, fmt))  # type: ignore[arg-type]


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None)
def schemas(out: Path | None) -> None:
    """Write the JSON Schema of every message type (default: schemas/json/)."""
    from schemas.export import DEFAULT_DIR, export

    paths = export(out or DEFAULT_DIR)
    console.print(f"wrote {len(paths)} schemas to {(out or DEFAULT_DIR)}")


@main.command()
@click.argument("name")
@click.option("--quick", is_flag=True, help="A smaller run, for smoke checks")
def bench(name: str, quick: bool) -> None:
    """Run a benchmark from bench/, print figures, write bench/results/NAME.json."""
    from bench.runner import run

    run(name, quick=quick)


@main.command()
@click.option("--bootstrap", required=False)
@click.option("--web-port", type=int, default=None)
def worker(bootstrap: str | None, web_port: int | None) -> None:
    """Run one stream worker against an existing broker (scale out by running more)."""
    from streams import worker as w

    sys.argv = ["streams.worker", "--bootstrap", _bootstrap(bootstrap)]
    if web_port:
        sys.argv += ["--web-port", str(web_port)]
    w.main()


@main.command()
@click.option("--upstream", required=True, help="Base URL of the mixing node or of another relay")
@click.option("--port", type=int, required=True)
@click.option("--host", default="127.0.0.1")
@click.option("--public-url", default=None, help="Base URL clients reach this relay at")
@click.option("--origin", default=None, help="Base URL of the mixing node (default: upstream)")
@click.option("--bootstrap", default=None)
@click.option("--id", "relay_id", default=None)
def relay(
    upstream: str,
    port: int,
    host: str,
    public_url: str | None,
    origin: str | None,
    bootstrap: str | None,
    relay_id: str | None,
) -> None:
    """Run one relay: rooms from UPSTREAM to child relays and listeners (run more to scale)."""
    from media import relay_node

    sys.argv = ["media.relay_node", "--bootstrap", _bootstrap(bootstrap), "--upstream", upstream,
                "--port", str(port), "--host", host]  # fmt: skip
    for flag, value in (("--public-url", public_url), ("--origin", origin), ("--id", relay_id)):
        if value:
            sys.argv += [flag, value]
    relay_node.main()


@main.command()
@click.option("--upstream", required=True, help="Base URL of the mixing node or of a relay")
@click.option("--bootstrap", default=None)
@click.option("--object-store", default=None, help="Where to write (default STOA_OBJECT_STORE_URL)")
def hls(upstream: str, bootstrap: str | None, object_store: str | None) -> None:
    """Run the HLS segmenter: every live room of UPSTREAM as short fMP4 segments."""
    from media import hls_node

    sys.argv = ["media.hls_node", "--bootstrap", _bootstrap(bootstrap), "--upstream", upstream]
    if object_store:
        sys.argv += ["--object-store", object_store]
    hls_node.main()


@main.command()
@click.option("--upstream", required=True, help="Base URL of the mixing node or of a relay")
@click.option("--bootstrap", default=None)
@click.option("--object-store", default=None, help="Where to write (default STOA_OBJECT_STORE_URL)")
def recorder(upstream: str, bootstrap: str | None, object_store: str | None) -> None:
    """Run the room recorder: every live room of UPSTREAM kept as chunks, finished into files."""
    from media import recorder_node

    sys.argv = ["media.recorder_node", "--bootstrap", _bootstrap(bootstrap), "--upstream", upstream]
    if object_store:
        sys.argv += ["--object-store", object_store]
    recorder_node.main()


@main.command()
@click.option("--bootstrap", default=None)
@click.option("--id", "worker_id", default=None, help="Worker id (default: a fresh one)")
def asr(bootstrap: str | None, worker_id: str | None) -> None:
    """Run a speech-to-text worker: it joins the others and shares the live rooms with them."""
    from media.asr import worker

    sys.argv = ["media.asr.worker", "--bootstrap", _bootstrap(bootstrap)]
    if worker_id:
        sys.argv += ["--id", worker_id]
    worker.main()


if __name__ == "__main__":
    main()


main.add_command(moderation)
