"""Prometheus metrics of the gateway."""

from prometheus_client import CollectorRegistry, Counter, Histogram


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
