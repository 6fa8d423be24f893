"""Where the archive lives: embedded chDB in a directory of its own, or a ClickHouse server.

Both are reached through clickhouse-connect, so the DDL, inserts and queries
are the same. chDB allows one engine per directory per process; while the
stack runs, the archiver owns it and other processes query through the
archiver (``events.archive.remote``).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from events.archive.rows import COLUMNS

TABLE = "stoa.events"


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


READ_ONLY = {"readonly": 2}
"""Analysts' queries read (and may change query settings) but never write or drop."""


class Archive(Protocol):
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Result: ...


def connect(url: str | None, chdb_dir: Path) -> Client:
    """A client for the ClickHouse server at ``url``, or else for embedded chDB in ``chdb_dir``."""
    if url:
        return clickhouse_connect.get_client(dsn=url)
    path = chdb_dir.resolve()  # a chdb:// DSN names an absolute path
    path.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=f"chdb://{path}")


class ClickHouseArchive:
    """The archive through a client this process owns."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None, *, read_only: bool = False
    ) -> Result:
        settings = READ_ONLY if read_only else None
        result = self.client.query(sql, parameters=parameters, settings=settings)
        return Result(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    @contextmanager
    def raw_blocks(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> Iterator[Iterator[Sequence[Sequence[Any]]]]:
        """Rows streamed in blocks, with String columns as bytes.

        Restore needs the records' exact bytes, and one streamed scan per
        partition rather than a scan per page, whatever the archive's size.
        """
        with self.client.query_row_block_stream(
            sql, parameters=parameters, query_formats={"String": "bytes"}
        ) as stream:
            yield iter(stream)

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        self.client.insert(TABLE, rows, column_names=list(COLUMNS))

    def close(self) -> None:
        self.client.close()
