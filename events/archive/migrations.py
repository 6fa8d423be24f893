"""Versioned schema of the archive, applied in order at start.

A migration is never edited once released: a change is a new version. The
applied versions are recorded in ``stoa.schema_migrations`` so every start
(archiver, restore, ``stoa sql`` on a stopped stack) brings the schema to the
latest version and does nothing when it is already there.
"""

from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _sql(name: str) -> tuple[str, ...]:
    text = resources.files("events.archive").joinpath(f"sql/{name}.sql").read_text()
    return tuple(s.strip() for s in text.split(";\n") if s.strip())


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events table", _sql("001_events")),
    Migration(2, "analytics views", _sql("002_analytics")),
    Migration(3, "transcript index", _sql("003_transcripts")),
)

LEDGER = """
CREATE TABLE IF NOT EXISTS stoa.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version
"""


def applied_versions(client: Client) -> set[int]:
    client.command("CREATE DATABASE IF NOT EXISTS stoa")
    client.command(LEDGER)
    rows = client.query("SELECT version FROM stoa.schema_migrations").result_rows
    return {row[0] for row in rows}


def migrate(client: Client) -> list[Migration]:
    """Apply what is missing, in version order; returns what was applied."""
    done = applied_versions(client)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            client.command(statement)
        client.insert(
            "stoa.schema_migrations",
            [(migration.version, migration.name)],
            column_names=["version", "name"],
        )
        applied.append(migration)
    return applied
