"""Registry hot reload and list-changed notifications to clients of both protocol generations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from mcp import Client, types
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig, envoy_bootstrap, envoy_cluster
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {
    "unavailable_after_seconds": 0.5,
    "probe_interval_seconds": 0.2,
    "debounce_seconds": 0.1,
    "reload_interval_seconds": 0.1,
}


def registry(upstreams: dict[str, str]) -> dict[str, Any]:
    return envoy_bootstrap(
        [
            envoy_cluster(name, "127.0.0.1", int(url.rsplit(":", 1)[1]))
            for name, url in upstreams.items()
        ]
    )


async def _names(url: str) -> set[str]:
    async with Client(f"{url}/mcp", mode="2026-07-28") as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def _eventually(predicate: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.05)


async def test_a_changed_registry_file_is_applied_and_a_broken_one_rejected(tmp_path: Path) -> None:
    path = tmp_path / "upstreams.yaml"
    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["search"])) as beta,
    ):
        path.write_text(yaml.safe_dump(registry({"alpha": alpha})))
        settings = AggregatorSettings(upstreams_file=str(path), **FAST)
        async with serve(build_app(settings)) as url:
            assert "search" not in await _names(url)
            path.write_text(yaml.safe_dump(registry({"alpha": alpha, "beta": beta})))

            async def beta_joined() -> bool:
                return "search" in await _names(url)

            await _eventually(beta_joined)
            path.write_text("static_resources: {clusters: [{name: Not_Valid}]}")
            await anyio.sleep(0.5)
            still = await _names(url)
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{url}/metrics")).text
    assert {"lookup", "search"} <= still, "a broken file leaves the running set alone"
    assert 'mcp_aggregator_registry_reloads_total{result="applied"} 1.0' in metrics
    assert 'mcp_aggregator_registry_reloads_total{result="rejected"} 1.0' in metrics


async def test_list_changes_reach_2026_listeners_and_2025_get_streams(tmp_path: Path) -> None:
    path = tmp_path / "upstreams.yaml"
    legacy_events: list[str] = []
    modern_events: list[Any] = []
    sdk_legacy_events: list[Any] = []

    async def on_message(message: Any) -> None:
        sdk_legacy_events.append(message)

    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["search"])) as beta,
    ):
        path.write_text(yaml.safe_dump(registry({"alpha": alpha})))
        settings = AggregatorSettings(upstreams_file=str(path), **FAST)
        async with (
            serve(build_app(settings)) as url,
            httpx.AsyncClient(timeout=10) as http,
            Client(f"{url}/mcp", mode="2026-07-28") as modern,
            Client(f"{url}/mcp", mode="legacy", message_handler=on_message),
        ):
            headers = {
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            }
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            }
            answer = await http.post(f"{url}/mcp", json=init, headers=headers)
            session = answer.headers["mcp-session-id"]

            async def read_legacy_stream(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                stream_headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
                async with http.stream("GET", f"{url}/mcp", headers=stream_headers) as response:
                    assert response.status_code == 200
                    task_status.started()
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            legacy_events.append(json.loads(line[5:])["method"])
                            return

            async def listen_modern(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                async with modern.listen(tools_list_changed=True) as subscription:
                    task_status.started()
                    async for event in subscription:
                        modern_events.append(event)
                        return

            with anyio.fail_after(15):
                async with anyio.create_task_group() as group:
                    await group.start(read_legacy_stream)
                    await group.start(listen_modern)
                    await anyio.sleep(0.3)  # let the SDK's legacy client open its GET stream
                    path.write_text(yaml.safe_dump(registry({"alpha": alpha, "beta": beta})))
            await anyio.sleep(0.3)
    assert legacy_events == ["notifications/tools/list_changed"]
    assert len(modern_events) == 1
    assert any(
        isinstance(n, types.ToolListChangedNotification) for n in sdk_legacy_events
    ), "the SDK's own 2025-11-25 client hears it over its GET stream"


async def test_an_upstreams_own_list_change_is_followed_over_subscriptions_listen() -> None:
    bus = InMemorySubscriptionBus()
    upstream = MCPServer("growing", subscriptions=bus)

    @upstream.tool(name="first")
    async def first() -> str:
        return "first"

    settings = AggregatorSettings(**{**FAST, "refresh_interval_seconds": 300.0})
    async with (
        serve(upstream.streamable_http_app(stateless_http=True)) as upstream_url,
        serve(build_app(settings, [UpstreamConfig("growing", f"{upstream_url}/mcp")])) as url,
    ):
        assert await _names(url) == {"first"}
        # Idle longer than the control-plane read timeout: the listen stream must survive it.
        await anyio.sleep(6)

        async def late() -> str:
            return "late"

        upstream.add_tool(late, name="late")
        await bus.publish(ToolsListChanged())

        async def grown() -> bool:
            return await _names(url) == {"first", "late"}

        await _eventually(grown, timeout=5)
