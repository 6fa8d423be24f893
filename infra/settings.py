"""Configuration from the environment (``STOA_`` prefix) and ``.env``."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.tiers import Thresholds


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
    login_url: str | None = Field(
        default=None,
        description="an external issuer's sign-in page; it returns to the app with #token=JWT",
    )
    asr_engine: Literal["whisper", "vosk"] = "whisper"
    whisper_model: Path | None = Field(
        default=None, description="a CTranslate2 Whisper directory; unset = the packaged tiny.en"
    )
    vosk_model: Path | None = None
    asr_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="CPU threads of one speech-to-text worker's engine: 1 scales by workers "
        "(one per core); more makes each pass, and so each caption, come sooner",
    )

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
    public_url: str | None = Field(
        default=None,
        description="base URL clients reach this gateway at (default http://host:port)",
    )
    tier_relay_at: int = Field(default=100, ge=1, description="listeners from which relays serve")
    tier_hls_at: int = Field(default=1000, ge=1, description="listeners from which HLS serves")
    tier_hysteresis: float = Field(
        default=0.8, gt=0, le=1, description="share of a threshold to fall below before moving down"
    )
    relays: int = Field(default=2, ge=0, description="relays `stoa up` runs")
    relay_capacity: int = Field(default=500, ge=1, description="listeners a leaf relay carries")
    relay_batch: int = Field(
        default=10, ge=1, le=10, description="frames per WebSocket message for passive listeners"
    )

    @property
    def origin_url(self) -> str:
        """Where clients and relays reach this gateway (its media plane is the mixing node)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def tier_thresholds(self) -> Thresholds:
        return Thresholds(self.tier_relay_at, self.tier_hls_at, self.tier_hysteresis)

    @cached_property
    def object_store(self) -> str:
        return self.object_store_url or f"file://{self.data_dir.resolve()}/objects"
