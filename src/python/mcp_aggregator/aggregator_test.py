"""The aggregator in front of real (test) MCP servers, driven by the real MCP client."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from starlette.responses import JSONResponse, Response

from mcp_aggregator import listing as listing_module
from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.errors import ReportedError
from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error

pytestmark = pytest.mark.anyio

FAST = {"unavailable_after_seconds": 0.5, "probe_interval_seconds": 0.2, "debounce_seconds": 0.1}


@contextlib.asynccontextmanager
async def aggregator(upstreams: Sequence[UpstreamConfig], **settings: Any) -> AsyncIterator[str]:
    app = build_app(AggregatorSettings(**{**FAST, **settings}), upstreams)
    async with serve(app) as url:
        yield url


async def _tool_names(url: str, mode: str = "2026-07-28") -> list[str]:
    async with Client(f"{url}/mcp", mode=mode) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


async def _eventually(predicate: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.1)


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
        names = await _tool_names(url)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            with pytest.raises(MCPError, match="unknown tool 'lookup'"):
                await client.call_tool("lookup", {})
    assert ready.status_code == 503
    error = ready.json()["checks"]["upstreams"]["error"]
    assert "tool 'lookup' is exposed by both 'alpha' and 'beta'" in error
    assert "lookup" not in names
    assert "alpha_count" in names
    assert "beta_count" in names


async def _observe_count(url: str, mode: str) -> tuple[Any, list[Any], list[Any]]:
    """Call alpha_count at `url`; return its result and the progress and logs the client saw."""
    seen_progress: list[tuple[float, float | None, str | None]] = []
    logs: list[Any] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen_progress.append((progress, total, message))

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async with Client(f"{url}/mcp", mode=mode, logging_callback=on_log, log_level="info") as client:
        counted = await client.call_tool("alpha_count", {"steps": 3}, progress_callback=on_progress)
        failed = await client.call_tool("alpha_fail", {})
    return (counted.structured_content, failed.is_error, failed.content), seen_progress, logs


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_progress_logs_and_errors_pass_through_unchanged(mode: str) -> None:
    async with (
        serve(build_upstream("alpha")) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
    ):
        direct = await _observe_count(alpha, mode)
        through = await _observe_count(url, mode)
    assert through == direct
    results, progress, logs = through
    assert results[0] == {"counted": 3}
    assert results[1] is True
    assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert logs == ["alpha counted 1", "alpha counted 2", "alpha counted 3"]


async def test_the_callers_credentials_never_reach_the_upstream() -> None:
    upstream = build_upstream("alpha")
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
    ):
        headers = {"Authorization": "Bearer end-user-token", "Cookie": "session=abc"}
        async with (httpx.AsyncClient(headers=headers) as http,):
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hi"}},
            }
            response = await http.post(
                f"{url}/mcp",
                json=body,
                headers={
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2025-11-25",
                },
            )
    assert response.status_code == 200
    assert '"text":"hi"' in response.text.replace(" ", "")
    forwarded = [seen for seen in upstream.seen if seen.get("mcp-protocol-version") == "2025-11-25"]
    assert forwarded, "the call reached the upstream"
    assert all("authorization" not in seen and "cookie" not in seen for seen in forwarded)


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
        assert "search" in await _tool_names(url)

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
            return "search" not in await _tool_names(url)

        await _eventually(withdrawn)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            with anyio.fail_after(1):
                fast = await client.call_tool("search", {})
        assert "unavailable" in tool_error(fast).message

        await stack.enter_async_context(serve(build_upstream("beta", ["search"]), port=port))

        async def back() -> bool:
            return "search" in await _tool_names(url)

        await _eventually(back)
        async with Client(f"{url}/mcp", mode="legacy") as client:
            again = await client.call_tool("search", {"text": "back"})
        assert again.structured_content == {"upstream": "beta", "tool": "search", "text": "back"}


class FailFirstCalls:
    """ASGI middleware answering `status` to the first `failures` tools/call requests per tool."""

    def __init__(self, app: Any, failures: int = 1, status: int = 503) -> None:
        self._app = app
        self._failures = failures
        self._status = status
        self.calls: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = dict(scope.get("headers", [])).get(b"mcp-name", b"").decode()
        if scope["type"] == "http" and scope["method"] == "POST" and name:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] <= self._failures:
                await Response("overloaded", status_code=self._status)(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def test_a_503_is_retried_for_read_only_tools_and_never_for_others() -> None:
    upstream = FailFirstCalls(build_upstream("alpha", ["lookup"]))
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp", retries=1)]) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
    ):
        read_only = await client.call_tool("lookup", {"text": "again"})
        unsafe = await client.call_tool("alpha_count", {"steps": 1})
    assert not read_only.is_error, "the read-only tool was retried past the 503"
    assert upstream.calls["lookup"] == 2
    assert tool_error(unsafe) == ReportedError(
        "upstream_error", "upstream 'alpha' answered HTTP 503"
    )
    assert upstream.calls["alpha_count"] == 1, "a call that may have run is never resent"


@pytest.mark.parametrize(("status", "attempts"), [(500, 1), (501, 1), (502, 2), (504, 2)])
async def test_only_502_503_and_504_are_retried_even_for_read_only_tools(
    status: int, attempts: int
) -> None:
    upstream = FailFirstCalls(build_upstream("alpha", ["lookup"]), status=status)
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp", retries=1)]) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
    ):
        result = await client.call_tool("lookup", {"text": "again"})
    assert upstream.calls["lookup"] == attempts
    if attempts == 1:
        assert tool_error(result) == ReportedError(
            "upstream_error", f"upstream 'alpha' answered HTTP {status}"
        )
    else:
        assert not result.is_error, "retried past the gateway error"


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
        names = await _tool_names(url)
    assert ready.status_code == 503
    assert (
        "alpha (down: upstream 'alpha' listed more than 3 tools, the most the aggregator "
        "accepts from one upstream)" in ready.json()["checks"]["upstreams"]["error"]
    )
    assert names == ["beta_count", "beta_fail"], "alpha is refused, not truncated"


async def test_calls_that_fail_while_resolving_are_counted_by_outcome() -> None:
    async with contextlib.AsyncExitStack() as stack:
        alpha = await stack.enter_async_context(serve(build_upstream("alpha", ["lookup"])))
        beta_stack = contextlib.AsyncExitStack()
        beta = await beta_stack.enter_async_context(serve(build_upstream("beta", ["search"])))
        url = await stack.enter_async_context(
            aggregator(
                [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")]
            )
        )
        assert "search" in await _tool_names(url)
        await beta_stack.aclose()  # beta goes down

        async def withdrawn() -> bool:
            return "search" not in await _tool_names(url)

        await _eventually(withdrawn)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client, httpx.AsyncClient() as http:
            down = await client.call_tool("search", {})  # refused while resolving: beta is down
            with pytest.raises(MCPError):
                await client.call_tool("no-such-tool", {})
            metrics = (await http.get(f"{url}/metrics")).text
    assert tool_error(down).code == "upstream_unavailable"
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("mcp_aggregator_requests_total{") and 'method="tools/call"' in line
    ]
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="search",'
        'outcome="upstream_unavailable",upstream="beta"} 1.0'
    ) in counted, counted
    # An unknown name is the client's choice: counted, but never as a label of its own.
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="",outcome="unknown",'
        'upstream=""} 1.0'
    ) in counted, counted
    assert "no-such-tool" not in metrics
