"""The packaged registry names the local stack's loopback ports: an aggregator listening beyond
loopback must be given its registry explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_aggregator.app import build_app
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.settings import SettingsError, is_loopback
from mcp_testkit.testing import serve


def _settings(host: str, upstreams_file: str | None) -> AggregatorSettings:
    """Settings for `host`; beyond loopback callers must be authenticated (auth=none is not
    allowed there), so Entra is configured."""
    return AggregatorSettings(
        host=host,
        upstreams_file=upstreams_file,
        auth="entra",
        tenant_id="00000000-0000-0000-0000-000000000001",
        audiences=["api://mcp-aggregator"],
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "aggregator.mcp"])
def test_beyond_loopback_without_a_registry_file_is_a_start_up_error(host: str) -> None:
    with pytest.raises(SettingsError) as caught:
        build_app(_settings(host, None))
    message = str(caught.value)
    assert message.startswith("MCP_AGGREGATOR_UPSTREAMS_FILE is not set")
    assert f"listens on {host}, beyond loopback" in message


async def _readiness(app: Any) -> str:
    """The readiness answer of `app` served on 127.0.0.1: it names each upstream it routes to."""
    async with serve(app) as url, httpx.AsyncClient() as http:
        with anyio.fail_after(30):
            response = await http.get(f"{url}/health/ready")
    return response.text


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
async def test_on_loopback_the_packaged_local_registry_serves(host: str) -> None:
    assert is_loopback(host)
    served = await _readiness(build_app(AggregatorSettings(host=host, upstreams_file=None)))
    for domain in ("users", "tickets", "data"):  # the packaged registry's clusters
        assert domain in served, served


@pytest.mark.anyio
async def test_beyond_loopback_an_explicit_registry_file_serves(tmp_path: Path) -> None:
    registry = tmp_path / "upstreams.yaml"
    registry.write_text(
        "static_resources:\n  clusters:\n"
        "  - name: users\n    connect_timeout: 2s\n    type: STRICT_DNS\n"
        "    load_assignment:\n      cluster_name: users\n      endpoints:\n"
        "      - lb_endpoints:\n        - endpoint: {address: {socket_address: "
        "{address: users.mcp, port_value: 8101}}}\n"
    )
    served = await _readiness(build_app(_settings("0.0.0.0", str(registry))))
    assert "users" in served, served
    assert "tickets" not in served, "only the explicit registry's upstream"
