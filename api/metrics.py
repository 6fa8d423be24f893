"""Prometheus metrics of the gateway (and of the media plane it hosts)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "stoa_commands_total",
            "Commands by type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "stoa_http_request_seconds",
            "HTTP latency by route and status",
            ["route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.media_enforcement = Histogram(
            "stoa_media_enforcement_seconds",
            "Moderation event (occurred_at) to its effect on the media, by action",
            ["action"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5),
        )
        self.media_tick = Histogram(
            "stoa_media_mix_tick_seconds",
            "Time one room's 20 ms mixing tick takes (decode, mix, encode, fan-out)",
            registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02),
        )
        self.media_sessions = Gauge(
            "stoa_media_sessions",
            "Live media sessions in this process, by kind (whip, whep, websocket)",
            ["kind"],
            registry=self.registry,
        )
        self.captions_rooms = Gauge(
            "stoa_captions_rooms",
            "Rooms mixed here by the health of their live captions (live, behind, failed,"
            " unavailable)",
            ["status"],
            registry=self.registry,
        )
        self.captions_changes = Counter(
            "stoa_captions_health_changes",
            "Changes of a room's captions health, by the health it changed to",
            ["status"],
            registry=self.registry,
        )
