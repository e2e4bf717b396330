"""The aggregator in front of real (test) MCP servers, driven by the real MCP client."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from starlette.responses import JSONResponse

from mcp_aggregator import listing as listing_module
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import aggregator, build_upstream, eventually, tool_names
from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_one_sorted_namespace_and_calls_reach_their_owner(mode: str) -> None:
    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["search"])) as beta,
        aggregator(
            [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")]
        ) as url,
        Client(f"{url}/mcp", mode=mode) as client,
    ):
        names = [tool.name for tool in (await client.list_tools()).tools]
        lookup = await client.call_tool("lookup", {"text": "x"})
        search = await client.call_tool("search", {"text": "y"})
    assert names == sorted(names)
    assert set(names) == {
        "lookup",
        "search",
        "alpha_count",
        "alpha_fail",
        "beta_count",
        "beta_fail",
    }
    assert lookup.structured_content == {"upstream": "alpha", "tool": "lookup", "text": "x"}
    assert search.structured_content == {"upstream": "beta", "tool": "search", "text": "y"}


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_prefix_renames_exactly_that_upstreams_tools(mode: str) -> None:
    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["lookup"])) as beta,
        aggregator(
            [
                UpstreamConfig("alpha", f"{alpha}/mcp"),
                UpstreamConfig("beta", f"{beta}/mcp", tool_prefix="b."),
            ]
        ) as url,
        Client(f"{url}/mcp", mode=mode) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("b.lookup", {"text": "z"})
    assert {"lookup", "b.lookup", "b.beta_count"} <= names
    assert result.structured_content == {"upstream": "beta", "tool": "lookup", "text": "z"}


async def test_a_collision_fails_readiness_naming_both_owners_and_routes_neither() -> None:
    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["lookup"])) as beta,
        aggregator(
            [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")]
        ) as url,
    ):
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{url}/health/ready")
        names = await tool_names(url)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            with pytest.raises(MCPError, match="unknown tool 'lookup'"):
                await client.call_tool("lookup", {})
    assert ready.status_code == 503
    error = ready.json()["checks"]["upstreams"]["error"]
    assert "tool 'lookup' is exposed by both 'alpha' and 'beta'" in error
    assert "lookup" not in names
    assert "alpha_count" in names
    assert "beta_count" in names


async def test_a_dead_upstream_fails_fast_by_name_and_comes_back_on_its_own() -> None:
    async with contextlib.AsyncExitStack() as stack:
        alpha = await stack.enter_async_context(serve(build_upstream("alpha", ["lookup"])))
        beta_stack = contextlib.AsyncExitStack()
        beta = await beta_stack.enter_async_context(serve(build_upstream("beta", ["search"])))
        port = int(beta.rsplit(":", 1)[1])
        url = await stack.enter_async_context(
            aggregator(
                [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")]
            )
        )
        assert "search" in await tool_names(url)

        await beta_stack.aclose()  # beta goes down
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            with anyio.fail_after(2):
                dead = await client.call_tool("search", {})
            for _ in range(5):
                alive = await client.call_tool("lookup", {"text": "still here"})
                assert not alive.is_error, "the other upstream's tools keep working"
        assert tool_error(dead).code == "upstream_unavailable"
        assert "'beta'" in tool_error(dead).message

        async def withdrawn() -> bool:
            return "search" not in await tool_names(url)

        await eventually(withdrawn)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            with anyio.fail_after(1):
                fast = await client.call_tool("search", {})
        assert "unavailable" in tool_error(fast).message

        await stack.enter_async_context(serve(build_upstream("beta", ["search"]), port=port))

        async def back() -> bool:
            return "search" in await tool_names(url)

        await eventually(back)
        async with Client(f"{url}/mcp", mode="legacy") as client:
            again = await client.call_tool("search", {"text": "back"})
        assert again.structured_content == {"upstream": "beta", "tool": "search", "text": "back"}


async def test_other_routed_requests_to_an_unreachable_upstream_get_a_jsonrpc_error() -> None:
    async with contextlib.AsyncExitStack() as stack:
        upstream_stack = contextlib.AsyncExitStack()
        alpha = await upstream_stack.enter_async_context(
            serve(build_upstream("alpha", prompts=True))
        )
        url = await stack.enter_async_context(
            aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")], unavailable_after_seconds=30)
        )
        client = await stack.enter_async_context(Client(f"{url}/mcp", mode="legacy"))
        greeting = await client.get_prompt("alpha_greeting", {"who": "Ada"})
        await upstream_stack.aclose()
        with pytest.raises(MCPError, match="upstream 'alpha' could not be reached") as caught:
            await client.get_prompt("alpha_greeting", {"who": "Ada"})
    assert "Hello Ada from alpha" in str(greeting.messages[0].content)
    assert caught.value.error.data == {"code": "upstream_unavailable"}


async def test_readiness_of_a_failing_upstream_names_it_but_not_its_url_or_body() -> None:
    secret = "db-password=hunter2 at 10.9.8.7"

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        """Answers every request with a JSON-RPC error whose message holds secrets."""
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request_id = json.loads(body).get("id") if body else None
        error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": secret}}
        await JSONResponse(error)(scope, receive, send)

    async with (
        serve(broken) as alpha,
        serve(build_upstream("beta", ["search"])) as beta,
        aggregator(
            [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")],
            readiness_policy="all",
        ) as url,
        httpx.AsyncClient() as http,
    ):
        ready = await http.get(f"{url}/health/ready")
    assert ready.status_code == 503
    error = ready.json()["checks"]["upstreams"]["error"]
    assert error.startswith("unavailable upstreams: alpha (down: "), error
    for leaked in (alpha, alpha.split("//")[1], "hunter2", "10.9.8.7"):
        assert leaked not in ready.text


def _template_upstream(name: str, template: str) -> Any:
    """A stateless MCP server with one tool and one resource template."""
    server = MCPServer(name)

    @server.tool(name=f"{name}_ping", description="Ping.")
    async def ping() -> str:
        return "pong"

    # The SDK matches a reader's parameters to the template's variables by name.
    def by_table(table: str) -> str:
        return f"{name} rows of {table}"

    def by_name(name_: str) -> str:
        return f"{name} rows of {name_}"

    reader = by_table if "{table}" in template else by_name
    server.resource(template.replace("{name}", "{name_}"), name=f"{name}-rows")(reader)

    return server.streamable_http_app(stateless_http=True)


async def test_resource_reads_are_counted_under_their_template_not_the_clients_uri() -> None:
    async with (
        serve(_template_upstream("data", "db://{table}/rows")) as data,
        aggregator([UpstreamConfig("data", f"{data}/mcp")]) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
        httpx.AsyncClient() as http,
    ):
        for table in ("sales", "users", "t1", "t2"):
            read = await client.read_resource(f"db://{table}/rows")
            assert read.contents[0].text == f"data rows of {table}"  # type: ignore[union-attr]
        metrics = (await http.get(f"{url}/metrics")).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("mcp_aggregator_requests_total{") and "resources/read" in line
    ]
    assert counted == [
        'mcp_aggregator_requests_total{method="resources/read",name="db://{table}/rows",'
        'outcome="ok",upstream="data"} 4.0'
    ]
    assert "db://sales/rows" not in metrics


async def test_a_resource_template_served_by_two_upstreams_fails_readiness_naming_both() -> None:
    async with (
        serve(_template_upstream("data", "db://{table}/rows")) as data,
        serve(_template_upstream("warehouse", "db://{name}/rows")) as warehouse,
        aggregator(
            [
                UpstreamConfig("data", f"{data}/mcp"),
                UpstreamConfig("warehouse", f"{warehouse}/mcp"),
            ]
        ) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
        httpx.AsyncClient() as http,
    ):
        ready = await http.get(f"{url}/health/ready")
        templates = (await client.list_resource_templates()).resource_templates
        with pytest.raises(MCPError, match="unknown resource 'db://sales/rows'"):
            await client.read_resource("db://sales/rows")
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert ready.status_code == 503
    assert ready.json()["checks"]["upstreams"]["error"] == (
        "resource template 'db://{table}/rows' is exposed by both 'data' and 'warehouse'; "
        "serve it from one"
    )
    assert templates == []
    assert tools == {"data_ping", "warehouse_ping"}, "the rest of both upstreams still serves"


async def test_an_upstream_listing_too_many_tools_is_refused_by_name_and_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing_module, "MAX_LISTED_ITEMS", 3)
    async with (
        serve(build_upstream("alpha", ["a", "b", "c"])) as alpha,
        serve(build_upstream("beta", [])) as beta,
        aggregator(
            [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")],
            readiness_policy="all",
        ) as url,
        httpx.AsyncClient() as http,
    ):
        ready = await http.get(f"{url}/health/ready")
        names = await tool_names(url)
    assert ready.status_code == 503
    assert (
        "alpha (down: upstream 'alpha' listed more than 3 tools, the most the aggregator "
        "accepts from one upstream)" in ready.json()["checks"]["upstreams"]["error"]
    )
    assert names == ["beta_count", "beta_fail"], "alpha is refused, not truncated"
