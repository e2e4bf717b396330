"""One upstream's health: the state machine driven by probes and failed calls."""

from __future__ import annotations

import anyio
import pytest

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.upstream import Health, Upstream


def _health(upstream: Upstream) -> Health:
    return upstream.health  # read through a call: mypy would narrow the attribute


def test_health_moves_to_down_after_the_grace_period_and_back_on_success() -> None:
    upstream = Upstream(
        UpstreamConfig(name="users", url="http://127.0.0.1:1/mcp"), unavailable_after=0.0
    )
    assert _health(upstream) is Health.UNKNOWN
    upstream.record_failure("timed out")
    assert _health(upstream) is Health.DOWN
    assert upstream.last_error == "timed out"
    upstream.record_success()
    assert _health(upstream) is Health.UP
    assert upstream.last_error is None
    upstream.record_failure("timed out")
    assert _health(upstream) is Health.SUSPECT
    upstream.record_failure("timed out")
    assert _health(upstream) is Health.DOWN


@pytest.mark.anyio
async def test_a_probe_of_an_unreachable_upstream_records_why() -> None:
    """Over the aiohttp pool: nothing listens on port 9 (discard) of loopback here."""
    upstream = Upstream(
        UpstreamConfig(name="users", url="http://127.0.0.1:9/mcp", connect_timeout=1.0),
        unavailable_after=10.0,
    )
    try:
        with anyio.fail_after(10):
            await upstream.ping()
    finally:
        await upstream.aclose()
    assert _health(upstream) is Health.DOWN
    assert upstream.last_error == "connection refused or unreachable"
