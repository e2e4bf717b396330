from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from mcp_common.health import CheckFailed, ReadinessChecks
from mcp_common.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio


async def test_readiness_and_its_changes_are_exported() -> None:
    checks = ReadinessChecks()
    metrics = ServiceMetrics()
    metrics.watch_readiness(checks)
    assert b"mcp_ready " not in generate_latest(metrics.registry), "absent before a probe"
    healthy = True

    async def store() -> None:
        if not healthy:
            raise CheckFailed("down")

    checks.add("store", store)
    for state in (True, True, False, True):
        healthy = state
        await checks.run()
    text = generate_latest(metrics.registry).decode()
    assert "mcp_ready 1.0" in text
    # ready, ready, not ready, ready: two changes.
    assert "mcp_readiness_changes_total 2.0" in text
    healthy = False
    await checks.run()
    assert "mcp_ready 0.0" in generate_latest(metrics.registry).decode()


def test_refusals_are_counted_by_status_and_error() -> None:
    metrics = ServiceMetrics()
    metrics.observe_refusal(401, "invalid_token")
    metrics.observe_refusal(401, "invalid_token")
    metrics.observe_refusal(429, "rate_limited")
    text = generate_latest(metrics.registry).decode()
    assert 'mcp_guard_refusals_total{error="invalid_token",status="401"} 2.0' in text
    assert 'mcp_guard_refusals_total{error="rate_limited",status="429"} 1.0' in text
