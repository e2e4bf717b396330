"""The whole local stack as separate processes, as the README starts it: three domain servers
and the aggregator, driven over HTTP by the real MCP client."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from mcp import Client

from mcp_stack.identity import StackIdentity, local_identity
from mcp_stack.stack import (
    AGGREGATOR,
    DOMAIN_SERVICES,
    Running,
    launch,
    registry_document,
    start,
    stop,
    wait_ready,
)
from mcp_testkit.identity import domain_scope
from mcp_testkit.testing import PROTOCOL_MODES, connect, tool_error

CONTRACT_TOOLS = {"get_user_profile", "list_users", "create_ticket", "list_tickets", "query_data"}
EXAMPLE_CALLS: dict[str, dict[str, Any]] = {
    "get_user_profile": {"user_id": "u-0001", "include_details": True},
    "list_users": {"limit": 3},
    "create_ticket": {
        "title": "VPN down",
        "description": "No tunnel since 9:00",
        "priority": "high",
    },
    "list_tickets": {"status": "open", "limit": 5},
    "query_data": {"dataset": "sales", "filters": {"units": {"gte": 5}}, "limit": 5},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    running: dict[str, Running]
    registry: Path
    log_dir: Path
    env: dict[str, str]
    identity: StackIdentity

    @property
    def token(self) -> str:
        return self.identity.identity.user_token()

    def client(self, mode: str) -> contextlib.AbstractAsyncContextManager[Client]:
        return connect(self.url, self.token, mode)

    @property
    def url(self) -> str:
        return f"{self.running['aggregator'].service.url}/mcp"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    stack_identity = contextlib.ExitStack()
    domains = [replace(service, port=_free_port()) for service in DOMAIN_SERVICES]
    aggregator = replace(AGGREGATOR, port=_free_port())
    registry = root / "upstreams.yaml"
    registry.write_text(yaml.safe_dump(registry_document(domains)))
    identity = stack_identity.enter_context(local_identity(root))
    env = {
        **identity.environment((*domains, aggregator)),
        "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
        "MCP_AGGREGATOR_UNAVAILABLE_AFTER_SECONDS": "1",
        "MCP_AGGREGATOR_RELOAD_INTERVAL_SECONDS": "0.2",
        "MCP_AGGREGATOR_DEBOUNCE_SECONDS": "0.1",
        **{
            f"{s.env_prefix}DATABASE_URL": f"sqlite+aiosqlite:///{root}/{s.name}.sqlite3"
            for s in domains
        },
    }
    running = start([domains, [aggregator]], root / "logs", env)
    stack = Stack(
        {item.service.name: item for item in running}, registry, root / "logs", env, identity
    )
    try:
        yield stack
    finally:
        stop(list(stack.running.values()))
        stack_identity.close()


async def _tools(stack: Stack, mode: str = "2026-07-28") -> set[str]:
    async with stack.client(mode) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def _eventually(predicate: Any, timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.1)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_one_endpoint_lists_exactly_the_contract_and_calls_each_tool(
    stack: Stack, mode: str
) -> None:
    async with stack.client(mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        results = {name: await client.call_tool(name, args) for name, args in EXAMPLE_CALLS.items()}
    assert names == CONTRACT_TOOLS
    failures = {name: result.content for name, result in results.items() if result.is_error}
    assert failures == {}
    assert results["get_user_profile"].structured_content is not None
    assert results["get_user_profile"].structured_content["details"] is not None
    assert results["create_ticket"].structured_content is not None
    assert results["create_ticket"].structured_content["status"] == "open"


@pytest.mark.anyio
async def test_a_killed_domain_fails_fast_by_name_the_rest_keep_working_and_it_comes_back(
    stack: Stack,
) -> None:
    async with stack.client("2026-07-28") as client:
        created = await client.call_tool(
            "create_ticket",
            {"title": "Before the crash", "description": "durable?", "priority": "low"},
        )
    assert created.structured_content is not None
    ticket_id = created.structured_content["ticket_id"]

    tickets = stack.running["tickets"]
    os.kill(tickets.process.pid, signal.SIGKILL)
    tickets.process.wait()

    other_results = []
    async with stack.client("2026-07-28") as client:
        dead = await client.call_tool("list_tickets", {})
        for _ in range(10):
            other_results.append(await client.call_tool("list_users", {"limit": 1}))
            other_results.append(
                await client.call_tool("query_data", {"dataset": "sales", "limit": 1})
            )
    assert [r for r in other_results if r.is_error] == [], "other domains never fail"
    assert tool_error(dead).code == "upstream_unavailable"
    assert "'tickets'" in tool_error(dead).message

    async def withdrawn() -> bool:
        return "list_tickets" not in await _tools(stack)

    await _eventually(withdrawn)
    restarted = launch(tickets.service, tickets.log_path, stack.env)
    stack.running["tickets"] = restarted
    wait_ready(restarted)

    async def back() -> bool:
        return await _tools(stack) == CONTRACT_TOOLS

    await _eventually(back)
    async with stack.client("legacy") as client:
        listed = await client.call_tool("list_tickets", {"limit": 100})
    assert listed.structured_content is not None
    assert ticket_id in {ticket["ticket_id"] for ticket in listed.structured_content["items"]}


@pytest.mark.anyio
async def test_a_persons_call_reaches_the_domain_on_their_behalf(stack: Stack) -> None:
    entra = stack.identity.identity.entra
    with anyio.fail_after(30):
        async with stack.client("2026-07-28") as client:
            created = await client.call_tool("create_ticket", EXAMPLE_CALLS["create_ticket"])
    assert not created.is_error, created.content
    assert created.structured_content is not None
    developer = entra.verify(stack.token, None)["oid"]
    assert created.structured_content["reporter"]["object_id"] == developer
    # The aggregator exchanged the developer's token for the tickets server's audience.
    exchanges = {(r["user"], r["scope"]) for r in entra.obo_requests}
    assert (developer, domain_scope("tickets")) in exchanges


@pytest.mark.anyio
async def test_two_upstreams_with_one_tool_name_fail_readiness_naming_both(stack: Stack) -> None:
    original = stack.registry.read_text()
    document = yaml.safe_load(original)
    duplicate = yaml.safe_load(yaml.safe_dump(document["static_resources"]["clusters"][0]))
    duplicate["name"] = "users-copy"
    duplicate["load_assignment"]["cluster_name"] = "users-copy"
    document["static_resources"]["clusters"].append(duplicate)
    stack.registry.write_text(yaml.safe_dump(document))
    try:
        async with httpx.AsyncClient() as http:

            async def unready() -> bool:
                response = await http.get(f"{stack.running['aggregator'].service.url}/health/ready")
                return response.status_code == 503

            await _eventually(unready)
            body = (
                await http.get(f"{stack.running['aggregator'].service.url}/health/ready")
            ).json()
    finally:
        stack.registry.write_text(original)
    error = body["checks"]["upstreams"]["error"]
    assert "tool 'get_user_profile' is exposed by both 'users' and 'users-copy'" in error
    assert "tool 'list_users' is exposed by both 'users' and 'users-copy'" in error

    async def healed() -> bool:
        return await _tools(stack) == CONTRACT_TOOLS

    await _eventually(healed)


@pytest.mark.anyio
async def test_a_domain_refuses_every_caller_but_the_aggregator(stack: Stack) -> None:
    users = stack.running["users"].service.url
    entra = stack.identity.identity.entra
    aggregators_own = entra.issue("api://mcp-users")  # what its workload identity gets
    list_users = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_users", "arguments": {"limit": 1}},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(f"{users}/mcp", json=list_users, headers=headers)
        api = await http.get(f"{users}/api/users/u-0001")
        # A user's token for the aggregator, replayed at the domain (token passthrough).
        developer = await http.post(
            f"{users}/mcp",
            json=list_users,
            headers={**headers, "Authorization": f"Bearer {stack.token}"},
        )
        # Another application of the tenant, with a token for this very domain.
        other_app = await http.post(
            f"{users}/mcp",
            json=list_users,
            headers={
                **headers,
                "Authorization": f"Bearer {entra.token('api://mcp-users', app_id='other-app')}",
            },
        )
        wrong_audience = await http.get(
            f"{users}/api/users/u-0001",
            headers={"Authorization": f"Bearer {entra.issue('api://mcp-tickets')}"},
        )
        aggregator = await http.post(
            f"{users}/mcp",
            json=list_users,
            headers={**headers, "Authorization": f"Bearer {aggregators_own}"},
        )
        health = await http.get(f"{users}/health/ready")
    assert anonymous.status_code == api.status_code == 401
    assert developer.status_code == 401, "the aggregator's audience is not the domain's"
    assert "another audience" in developer.json()["error_description"]
    assert other_app.status_code == 403, "a valid token of the tenant, but not the aggregator"
    assert "call it through the MCP aggregator" in other_app.json()["error_description"]
    assert wrong_audience.status_code == 401
    assert aggregator.status_code == 200
    assert '"total":' in aggregator.text
    assert health.status_code == 200, "kubelet probes need no token"
