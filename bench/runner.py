"""``stoa bench NAME``: run one benchmark, print its figures, keep them as JSON."""

import importlib
import json
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCHMARKS = {
    "commands": "bench.commands",
    "presence": "bench.presence",
    "mixer": "bench.mixer",
    "archive": "bench.archive",
    "media-latency": "bench.media_latency",
    "whep": "bench.whep",
    "ingest": "bench.ingest",
    "fanout": "bench.fanout",
    "hls": "bench.hls",
    "recorder": "bench.recorder",
    "app": "bench.app",
    "replay": "bench.replay",
    "asr": "bench.asr",
}
RESULTS = Path(__file__).resolve().parent / "results"

console = Console()


def run(name: str, quick: bool = False) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    console.print(f"[bold]bench {name}[/] {(module.__doc__ or name).strip().splitlines()[0]}")
    figures: dict[str, Any] = module.run(quick=quick)
    figures["_meta"] = {
        "benchmark": name,
        "quick": quick,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    table = Table(title=f"stoa bench {name}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if not key.startswith("_"):
            table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    console.print(f"wrote {path}")
    return figures
