"""Querying the archive through the archiver that owns it.

chDB admits one process per directory: while ``stoa up`` runs, the archiver
holds it and answers queries on a loopback HTTP endpoint; ``open_archive``
picks that endpoint, a ClickHouse server, or chDB directly, so ``stoa sql``
and ``stoa replay --from-archive`` work whether or not the stack is up.
"""

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from events.archive.migrations import migrate
from events.archive.store import Archive, ClickHouseArchive, Result, connect


def to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_result(result: Result) -> bytes:
    return json.dumps({"columns": result.columns, "rows": result.rows}, default=to_json).encode()


class QueryError(RuntimeError):
    """The archive refused a query; the message is ClickHouse's own."""


class RemoteArchive:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Result:
        response = httpx.post(
            f"{self.url}/query", json={"sql": sql, "parameters": parameters or {}}, timeout=120
        )
        if response.status_code != 200:
            raise QueryError(response.json().get("detail", response.text))
        body = response.json()
        return Result(tuple(body["columns"]), [tuple(r) for r in body["rows"]])

    def alive(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class ReadOnlyArchive:
    """The store opened directly, for analysts: the schema brought up to date, no writes."""

    def __init__(self, archive: ClickHouseArchive) -> None:
        self._archive = archive

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Result:
        return self._archive.query(sql, parameters, read_only=True)


def open_archive(url: str | None, chdb_dir: Path, *, endpoint_file: Path) -> Archive:
    """For analysts' queries: the running archiver if there is one, else the store directly.

    ``url`` and ``chdb_dir`` are as for ``connect``; ``endpoint_file`` is where a
    running archiver writes the URL it answers queries on.
    """
    if not url and endpoint_file.exists():
        remote = RemoteArchive(endpoint_file.read_text().strip())
        if remote.alive():
            return remote
    client = connect(url, chdb_dir)
    migrate(client)
    return ReadOnlyArchive(ClickHouseArchive(client))
