"""Where a stack's broker and archive are: configured, or found under the data dir.

A running stack writes down the ports it picked (the embedded broker's, the
archiver's query endpoint), so that other processes (``stoa replay``, ``stoa
sql``, the gateway) find it without being told. The log and archive packages
take the results as plain URLs and paths, never the settings themselves.
"""

from pathlib import Path

from infra.settings import Settings


def bootstrap_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "run" / "bootstrap"


def running_bootstrap(settings: Settings) -> str | None:
    """``STOA_KAFKA_BOOTSTRAP`` if set, else the embedded broker of a running ``stoa up``."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    path = bootstrap_file(settings)
    return path.read_text().strip() if path.exists() else None


def archive_file(settings: Settings) -> Path:
    """The running archiver's query endpoint (it owns the embedded chDB while the stack runs)."""
    return Path(settings.data_dir) / "run" / "archive"


def chdb_dir(settings: Settings) -> Path:
    """The embedded archive's directory, used when ``STOA_CLICKHOUSE_URL`` is unset."""
    return Path(settings.data_dir) / "clickhouse"
