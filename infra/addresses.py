"""Where a running stack's broker is: configured, or written down by ``stoa up``."""

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
