"""The aggregator's own MCP server: the merged lists, and subscriptions to their changes.

Routed requests (`tools/call`, `prompts/get`, `resources/read`, `resources/subscribe` and
`unsubscribe`, `completion/complete`) never
reach these handlers: `front.McpFront` forwards them. The handlers below for those methods
answer only requests the front cannot route, i.e. JSON-RPC batches, which the current protocol
versions do not allow; registering them declares the capabilities (`completions` included).
"""

from __future__ import annotations

import warnings
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.subscriptions import ListenHandler, SubscriptionBus
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from mcp_aggregator import VERSION
from mcp_aggregator.policy import Kind, PolicyHolder
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.sessions import CLIENT_CAPABILITIES
from mcp_common import errors
from mcp_common.caller import caller_of

INSTRUCTIONS = (
    "One endpoint for the company's internal systems: the tools of every connected domain "
    "(directory, tickets, analytics data) under one namespace. A failed tool call's text is "
    "'<code>: <message>' (the code also in the result's _meta['mcp-platform/error'].code); "
    "upstream_unavailable means that domain is down for now."
)
_UNROUTABLE = "routed requests must be single JSON-RPC requests (batches are not supported)"


def build_server(
    registry: UpstreamRegistry, bus: SubscriptionBus, policy: PolicyHolder
) -> Server[Any]:
    """The SDK server; every list shows the caller only what the policy lets it use."""

    def visible(ctx: Any, kind: Kind, items: Any, key: str) -> list[Any]:
        current = policy.current
        if not current.enforced:
            return list(items)
        principal = caller_of(ctx)
        return [i for i in items if current.allows(principal, kind, str(getattr(i, key)))]

    def callable_by(ctx: Any, tools: Any) -> list[Any]:
        """Leave out tools offered only to clients with capabilities this one lacks."""
        scope = getattr(getattr(ctx, "request", None), "scope", None)
        declared = (
            scope.get(CLIENT_CAPABILITIES, frozenset()) if isinstance(scope, dict) else frozenset()
        )
        routes = registry.catalog.tool_routes
        return [
            tool for tool in tools if tool.name not in routes or routes[tool.name].needs <= declared
        ]

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = callable_by(ctx, visible(ctx, "tools", registry.catalog.tools, "name"))
        return types.ListToolsResult(tools=tools)

    async def list_prompts(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = visible(ctx, "prompts", registry.catalog.prompts, "name")
        return types.ListPromptsResult(prompts=prompts)

    async def list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resources = visible(ctx, "resources", registry.catalog.resources, "uri")
        return types.ListResourcesResult(resources=resources)

    async def list_templates(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        templates = visible(ctx, "resources", registry.catalog.resource_templates, "uri_template")
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def unroutable_call(
        ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return types.CallToolResult.model_validate(
            errors.error_result("invalid_argument", _UNROUTABLE)
        )

    async def unroutable(ctx: Any, params: Any) -> Any:
        raise MCPError(code=types.INVALID_REQUEST, message=_UNROUTABLE)

    async def set_logging_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        # Accepted and kept by no one: the aggregator and its upstreams are stateless, so a
        # level cannot outlive its request. A routed call's log messages come from its upstream,
        # which on 2025-11-25 sends every level (2026-07-28 clients set the level in each
        # request's `_meta`, which is forwarded). Without this handler, 2025-11-25 clients that
        # set a level before calling a tool (as the conformance suite does) get an error.
        return types.EmptyResult()

    # logging/setLevel is deprecated at 2026-07-28 (the SDK warns) but part of 2025-11-25.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return Server(
            "mcp-aggregator",
            version=VERSION,
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=unroutable_call,
            on_list_prompts=list_prompts,
            on_get_prompt=unroutable,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=unroutable,
            # Routed to the owner by the front (session-based upstreams with per-client
            # sessions); registered so the capability `resources.subscribe` is declared.
            on_subscribe_resource=unroutable,
            on_unsubscribe_resource=unroutable,
            on_completion=unroutable,
            on_set_logging_level=set_logging_level,
            on_subscriptions_listen=ListenHandler(bus),
        )
