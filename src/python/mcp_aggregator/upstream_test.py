"""What an upstream's failures look like to callers: a kind of failure, never its text."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import ListingTooLarge
from mcp_aggregator.transport import describe_error, log_detail
from mcp_aggregator.upstream import Health, Upstream


def test_connection_failures_of_both_http_clients_are_described_alike() -> None:
    refused = "connection refused or unreachable"
    assert describe_error(httpx2.ConnectError("[Errno 111] at http://10.0.0.7:8101")) == refused
    assert "10.0.0.7" not in describe_error(httpx2.ConnectError("http://10.0.0.7"))


def test_other_failures_are_named_by_kind() -> None:
    assert describe_error(TimeoutError()) == "timed out"
    assert describe_error(MCPError(-32601, "Method not found")) == "MCP error -32601"
    too_many = ListingTooLarge("upstream 'x' listed more than 10000 tools")
    assert describe_error(too_many) == str(too_many)
    assert describe_error(ValueError("secret body")) == "ValueError"
    group = ExceptionGroup("two", [TimeoutError(), ValueError("x")])
    assert describe_error(group) == "timed out; ValueError"
    assert "secret body" in log_detail(ValueError("secret body"))


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
