"""Configuration from the environment (``STOA_`` prefix) and ``.env``."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOA_", env_file=".env", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None, description="host:port of Kafka/Redpanda; unset starts the embedded broker"
    )
    clickhouse_url: str | None = None
    data_dir: Path = Path(".stoa")
    object_store_url: str | None = None
    auth_secret: str = Field(default="stoa-dev-secret-change-me-0123456789abcdef", min_length=32)
    auth_jwks_url: str | None = None
    dev_auth: bool = False
    asr_engine: Literal["whisper", "vosk"] = "whisper"
    whisper_model: Path | None = Field(
        default=None, description="a CTranslate2 Whisper directory; unset = the packaged tiny.en"
    )
    vosk_model: Path | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    partitions: int = Field(default=8, ge=1, description="partitions per room-keyed topic")
    speaker_cap: int = Field(default=10, ge=1)
    cohost_cap: int = Field(default=2, ge=0)
    command_timeout: float = Field(default=10.0, gt=0, description="seconds the gateway waits")
    worker_web_port: int = 6066
    session_timeout: float = Field(
        default=6.0, gt=0, description="consumer-group session; a group forms in about half"
    )
    rate_limit: float = Field(default=10.0, ge=0, description="actions/s per user; 0 disables")
    rate_burst: float = Field(default=30.0, ge=1, description="actions a user may burst")
    media_token_ttl: int = Field(default=300, gt=0, description="seconds a join token is valid")

    @cached_property
    def object_store(self) -> str:
        return self.object_store_url or f"file://{self.data_dir.resolve()}/objects"
