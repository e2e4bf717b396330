"""The aggregator's own SDK server: the merged lists as each caller may see them.

The server is served as the app serves it, behind the request guard (whose principal the
lists are filtered for), in front of a registry of real (test) upstreams; callers are the real
MCP client. Tool filtering by policy is auth_test's; prompts and resources are here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client, types
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.policy import Policy, PolicyHolder, parse_policy
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.server import build_server
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.auth import InvalidToken, Principal
from mcp_common.guard import HostPolicy, RequestGuard
from mcp_testkit.testing import PROTOCOL_MODES, connect, serve

pytestmark = pytest.mark.anyio

POLICY = """
default: deny
tools: {"*": {scopes: [mcp.access]}}
prompts:
  alpha_greeting: {scopes: [greet]}
  "*": authenticated
resources:
  "docs://handbook": {roles: [Docs.Read]}
  "docs://pages/{page}": {roles: [Docs.Admin]}
"""
CALLERS = {
    "reader": Principal(subject="reader", scopes=frozenset({"mcp.access", "greet"})),
    "librarian": Principal(subject="librarian", roles=frozenset({"Docs.Read"})),
    "admin": Principal(subject="admin", roles=frozenset({"Docs.Read", "Docs.Admin"})),
}


class Callers:
    """An `Authenticator` that knows the callers above by name (their bearer token)."""

    async def authenticate(self, authorization: str | None) -> Principal:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in CALLERS:
            raise InvalidToken("unknown caller")
        return CALLERS[token]

    async def aclose(self) -> None:
        return None


def docs_upstream() -> Any:
    server = MCPServer("docs")

    @server.tool(name="docs_search", description="Search the docs.")
    async def search(text: str = "") -> str:
        return text

    @server.prompt(name="docs_summary", description="Summarise a page.")
    def summary(page: str) -> str:
        return f"Summarise {page}"

    @server.resource("docs://handbook", name="handbook")
    def handbook() -> str:
        return "the handbook"

    @server.resource("docs://pages/{page}", name="page")
    def page(page: str) -> str:
        return f"page {page}"

    return server.streamable_http_app(stateless_http=True)


@contextlib.asynccontextmanager
async def aggregator_server(policy: Policy) -> AsyncIterator[str]:
    """The SDK server over the merged catalog of `alpha` and `docs`, filtered by `policy`."""
    live = UpstreamRegistry(RegistrySettings())
    async with (
        serve(build_upstream("alpha", ["lookup"], prompts=True)) as alpha,
        serve(docs_upstream()) as docs,
    ):
        await live.apply(
            [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("docs", f"{docs}/mcp")]
        )
        server = build_server(live, InMemorySubscriptionBus(), PolicyHolder(policy))
        app = RequestGuard(
            server.streamable_http_app(stateless_http=True),
            authenticator=Callers(),
            hosts=HostPolicy(allowed_hosts=("127.0.0.1:*",), allowed_origins=()),
        )
        try:
            async with serve(app) as url:
                yield f"{url}/mcp"
        finally:
            await live.aclose()


async def _lists(url: str, token: str, mode: str = "2026-07-28") -> dict[str, list[str]]:
    async with connect(url, token, mode) as client:
        return {
            "tools": [tool.name for tool in (await client.list_tools()).tools],
            "prompts": [prompt.name for prompt in (await client.list_prompts()).prompts],
            "resources": [str(r.uri) for r in (await client.list_resources()).resources],
            "templates": [
                t.uri_template for t in (await client.list_resource_templates()).resource_templates
            ],
        }


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_an_open_policy_lists_the_whole_merged_catalog_in_order(mode: str) -> None:
    async with aggregator_server(Policy.open()) as url:
        with anyio.fail_after(30):
            lists = await _lists(url, "reader", mode)
    assert lists == {
        "tools": ["alpha_count", "alpha_fail", "docs_search", "lookup"],
        "prompts": ["alpha_greeting", "docs_summary"],
        "resources": ["docs://handbook"],
        "templates": ["docs://pages/{page}"],
    }


async def test_each_caller_lists_only_the_prompts_and_resources_it_may_use() -> None:
    async with aggregator_server(parse_policy(yaml.safe_load(POLICY))) as url:
        with anyio.fail_after(30):
            seen = {caller: await _lists(url, caller) for caller in CALLERS}
    assert seen["reader"] == {
        "tools": ["alpha_count", "alpha_fail", "docs_search", "lookup"],
        "prompts": ["alpha_greeting", "docs_summary"],
        "resources": [],
        "templates": [],
    }
    assert seen["librarian"] == {
        "tools": [],
        "prompts": ["docs_summary"],
        "resources": ["docs://handbook"],
        "templates": [],
    }
    assert seen["admin"]["resources"] == ["docs://handbook"]
    assert seen["admin"]["templates"] == ["docs://pages/{page}"]


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_2025_client_sees_the_declared_capabilities_and_may_set_a_log_level() -> None:
    async with aggregator_server(Policy.open()) as url, connect(url, "reader", "legacy") as client:
        with anyio.fail_after(30):
            await client.set_logging_level("debug")
            capabilities = client.server_capabilities
            info, instructions = client.server_info, client.instructions or ""
    assert capabilities.tools is not None
    assert capabilities.prompts is not None
    assert capabilities.completions is not None
    assert capabilities.resources is not None
    assert capabilities.resources.subscribe, "subscriptions are routed to their owners"
    assert info is not None
    assert info.name == "mcp-aggregator"
    assert "upstream_unavailable" in instructions


def sampling_gated_upstream() -> Any:
    """A 2025-11-25 session-based server that lists `ask` only to clients declaring sampling."""

    async def list_tools(ctx: Any, _params: Any) -> types.ListToolsResult:
        tools = [types.Tool(name="echo", input_schema={"type": "object"})]
        capabilities = ctx.session.client_capabilities
        if capabilities is not None and capabilities.sampling is not None:
            tools.append(types.Tool(name="ask", input_schema={"type": "object"}))
        return types.ListToolsResult(tools=tools)

    server: Server[Any] = Server("gating", on_list_tools=list_tools)
    app = server.streamable_http_app(stateless_http=False, host="127.0.0.1")

    async def older_generation_only(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if headers.get(b"mcp-protocol-version") == b"2026-07-28":
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"unsupported protocol version"})
            return
        await app(scope, receive, send)

    return older_generation_only


async def test_a_tool_offered_only_with_sampling_is_listed_only_to_clients_declaring_it() -> None:
    async def never(*_args: Any) -> Any:
        raise AssertionError("listing never asks for a sample")

    sampling: Any = never

    settings = AggregatorSettings(debounce_seconds=0.1)
    async with serve(sampling_gated_upstream()) as upstream:
        config = UpstreamConfig("gating", f"{upstream}/mcp", sessions="per-client")
        async with serve(build_app(settings, [config])) as url:
            with anyio.fail_after(30):
                async with Client(f"{url}/mcp", mode="legacy", sampling_callback=sampling) as able:
                    with_sampling = {tool.name for tool in (await able.list_tools()).tools}
                async with Client(f"{url}/mcp", mode="legacy") as unable:
                    without = {tool.name for tool in (await unable.list_tools()).tools}
    assert with_sampling == {"echo", "ask"}
    assert without == {"echo"}, "a client that could not answer the sample never sees `ask`"
