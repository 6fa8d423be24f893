"""``stoa sql``: an analytics query, printed for people (table) or scripts (csv, json)."""

import csv
import io
import json
from typing import Literal

from rich.console import Console
from rich.table import Table

from events.archive.remote import to_json
from events.archive.store import Result

Format = Literal["table", "csv", "json"]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str | int):
        return str(value)
    try:
        return str(to_json(value))
    except TypeError:
        return str(value)


def render(result: Result, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(
            [dict(zip(result.columns, row, strict=True)) for row in result.rows],
            default=to_json,
            indent=2,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
        return out.getvalue().rstrip("\n")
    table = Table(*result.columns, show_lines=False)
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}")
    return console.export_text().rstrip("\n")
