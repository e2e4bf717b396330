"""Resolving routed requests against a real registry's merged catalog (no upstream runs)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import types

from mcp_aggregator.catalog import UpstreamListing
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import (
    InvalidParams,
    NotSupported,
    UnknownTarget,
    UpstreamUnavailable,
)
from mcp_aggregator.policy import DENY, Policy, PolicyHolder, Rule
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.routing import Router, check_subscribable
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.upstream import Upstream
from mcp_common.auth import Principal

_SCHEMA: dict[str, Any] = {"type": "object"}
READER = Principal("reader", roles=frozenset({"reader"}))


def _upstream(name: str, prefix: str = "", **listing: Any) -> Upstream:
    config = UpstreamConfig(name=name, url=f"http://127.0.0.1:1/{name}", tool_prefix=prefix)
    upstream = Upstream(config, unavailable_after=10.0)
    upstream.listing = UpstreamListing(prefix=prefix, **listing)
    upstream.record_success()
    return upstream


def _tool(name: str) -> types.Tool:
    return types.Tool(name=name, input_schema=_SCHEMA)


def _router(*upstreams: Upstream, policy: Policy | None = None) -> Router:
    registry = UpstreamRegistry(RegistrySettings())
    registry.upstreams = {upstream.name: upstream for upstream in upstreams}
    registry.rebuild()
    return Router(registry, PolicyHolder(policy or Policy.open()))


def test_a_prefixed_tool_resolves_to_its_owner_under_its_own_name() -> None:
    users = _upstream("users", "users_", tools=(_tool("get_user"),))
    target = _router(users).resolve("tools/call", {"name": "users_get_user"}, READER)
    assert (target.kind, target.key, target.upstream) == ("tools", "users_get_user", users)
    assert target.route.upstream_name == "get_user"


def test_an_unknown_tool_names_only_the_tools_the_caller_may_see() -> None:
    users = _upstream("users", tools=(_tool("get_user"), _tool("delete_user")))
    policy = Policy(default=DENY, rules={"tools": {"get_user": Rule(roles=frozenset({"reader"}))}})
    router = _router(users, policy=policy)
    with pytest.raises(UnknownTarget, match=r"unknown tool 'nope'; known: get_user$"):
        router.resolve("tools/call", {"name": "nope"}, READER)
    assert router.refused_labels("tools/call", {"name": "nope"}, READER) == ("", "")


def test_a_tool_of_a_down_upstream_is_refused_naming_the_upstream() -> None:
    tickets = _upstream("tickets", tools=(_tool("open_ticket"),))
    tickets.unavailable_after = 0.0
    tickets.record_failure("timed out")
    tickets.record_failure("timed out")  # down: out of the catalog, its listing remembered
    router = _router(tickets)
    with pytest.raises(
        UpstreamUnavailable, match=r"upstream 'tickets', which is unavailable \(timed out\)"
    ) as caught:
        router.resolve("tools/call", {"name": "open_ticket"}, READER)
    assert caught.value.upstream == "tickets"
    assert router.refused_labels("tools/call", {"name": "open_ticket"}, READER) == (
        "open_ticket",
        "tickets",
    )


def test_malformed_params_and_unknown_prompts_are_refused() -> None:
    router = _router(_upstream("users", tools=(_tool("get_user"),)))
    with pytest.raises(InvalidParams, match="needs params.name"):
        router.resolve("tools/call", {"name": 7}, READER)
    with pytest.raises(InvalidParams, match="needs params.uri"):
        router.resolve("resources/read", {}, READER)
    with pytest.raises(UnknownTarget, match="unknown prompt 'p'"):
        router.resolve("prompts/get", {"name": "p"}, READER)
    with pytest.raises(InvalidParams, match="completion/complete needs params.ref"):
        router.resolve("completion/complete", {"ref": {"type": "ref/tool"}}, READER)


def test_resources_and_completions_go_to_the_owner_of_their_template() -> None:
    template = types.ResourceTemplate(name="rows", uri_template="db://{table}/rows")
    data = _upstream("data", resource_templates=(template,))
    router = _router(data)
    read = router.resolve("resources/read", {"uri": "db://sales/rows"}, READER)
    assert (read.kind, read.upstream, read.route.upstream_name) == (
        "resources",
        data,
        "db://sales/rows",
    )
    ref = {"type": "ref/resource", "uri": "db://{table}/rows"}
    completion = router.resolve("completion/complete", {"ref": ref}, READER)
    assert (completion.kind, completion.upstream) == ("resources", data)
    with pytest.raises(UnknownTarget, match="unknown resource 'db://sales/columns'"):
        router.resolve("resources/read", {"uri": "db://sales/columns"}, READER)


def test_a_tool_offered_only_to_sampling_clients_needs_a_session_that_declared_it() -> None:
    needs = (("ask", frozenset({"sampling"})),)
    router = _router(_upstream("llm", tools=(_tool("ask"),), tool_needs=needs))
    with pytest.raises(InvalidParams, match="needs a client that answers sampling requests"):
        router.resolve("tools/call", {"name": "ask"}, READER)
    declared = ClientSession("n" * 32, capabilities=frozenset({"sampling"}))
    assert router.resolve("tools/call", {"name": "ask"}, READER, declared).key == "ask"


def test_subscriptions_need_a_per_client_upstream_session() -> None:
    stateless = _upstream("data")
    with pytest.raises(NotSupported, match="which is stateless"):
        check_subscribable(stateless, "db://x", None)
    stateless.session_based = True
    with pytest.raises(NotSupported, match="needs a 2025-11-25 session"):
        check_subscribable(stateless, "db://x", None)
    check_subscribable(stateless, "db://x", ClientSession("n" * 32))
