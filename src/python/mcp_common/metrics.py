"""Prometheus metrics every server exports at `/metrics`: what its request guard answered
itself, and its readiness.

- `mcp_guard_refusals_total{status, error}`: requests refused before any route ran (401
  `unauthorized` / `invalid_token`, 403 `forbidden` / `invalid_origin`, 413
  `request_too_large`, 421 `invalid_host`, 429 `rate_limited`, 503 `temporarily_unavailable`).
  Both labels are fixed sets.
- `mcp_ready`: 1 when the last `/health/ready` answered ready, 0 when it did not (absent
  before the first probe); `mcp_readiness_changes_total` counts the flips between the two,
  so flapping between two scrapes is not lost.

The aggregator adds its own metrics to the same registry (`mcp_aggregator.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mcp_common.health import ReadinessChecks

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ReadinessCollector(Collector):
    def __init__(self, checks: ReadinessChecks) -> None:
        self._checks = checks

    def collect(self) -> Iterator[Metric]:
        if self._checks.ready is not None:
            ready = GaugeMetricFamily(
                "mcp_ready", "1 when the last /health/ready answered ready, else 0."
            )
            ready.add_metric([], 1.0 if self._checks.ready else 0.0)
            yield ready
        changes = CounterMetricFamily(
            "mcp_readiness_changes", "Times /health/ready changed between ready and not ready."
        )
        changes.add_metric([], float(self._checks.changes))
        yield changes


class ServiceMetrics:
    """The metrics of `mcp_common`'s parts, in `registry` (a new one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._refusals = Counter(
            "mcp_guard_refusals",
            "Requests the request guard answered itself, by HTTP status and error code.",
            ["status", "error"],
            registry=self.registry,
        )

    def observe_refusal(self, status: int, error: str) -> None:
        self._refusals.labels(str(status), error).inc()

    def watch_readiness(self, checks: ReadinessChecks) -> None:
        self.registry.register(_ReadinessCollector(checks))

    def router(self) -> APIRouter:
        """`GET /metrics` in Prometheus' text format (public: see `mcp_common.guard`)."""
        router = APIRouter()

        @router.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)

        return router
