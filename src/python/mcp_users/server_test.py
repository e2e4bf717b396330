"""The users server started for real and driven by the real MCP client, in both protocol generations."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from mcp import Client

from mcp_common.errors import ReportedError
from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error
from mcp_users.app import build_app
from mcp_users.settings import UsersSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server_url(database_url: str) -> AsyncIterator[str]:
    settings = UsersSettings(database_url=database_url, demo=True)
    async with serve(build_app(settings)) as url:
        yield url


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_lists_exactly_the_users_tools_with_schemas_and_hints(
    server_url: str, mode: str
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"get_user_profile", "list_users"}
    profile = tools["get_user_profile"]
    assert profile.input_schema["required"] == ["user_id"]
    assert profile.input_schema["additionalProperties"] is False
    assert profile.output_schema is not None
    assert "email" in profile.output_schema["properties"]
    assert profile.annotations is not None
    assert profile.annotations.read_only_hint is True
    assert profile.annotations.idempotent_hint is True


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_list_users_pages_through_the_directory(server_url: str, mode: str) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        first = await client.call_tool("list_users", {})
        last = await client.call_tool("list_users", {"skip": 40, "limit": 10})
    assert not first.is_error
    assert first.structured_content is not None
    assert first.structured_content["total"] == 42
    assert len(first.structured_content["items"]) == 10
    assert first.structured_content["has_more"] is True
    assert last.structured_content is not None
    assert [u["user_id"] for u in last.structured_content["items"]] == ["u-0041", "u-0042"]
    assert last.structured_content["has_more"] is False


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_get_user_profile_with_and_without_details(server_url: str, mode: str) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        plain = await client.call_tool("get_user_profile", {"user_id": "u-0007"})
        detailed = await client.call_tool(
            "get_user_profile", {"user_id": "u-0007", "include_details": True}
        )
    assert plain.structured_content is not None
    assert plain.structured_content["user_id"] == "u-0007"
    assert plain.structured_content["details"] is None
    assert detailed.structured_content is not None
    assert detailed.structured_content["details"]["manager_id"] == "u-0003"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_bad_input_gets_coded_tool_errors_and_the_server_keeps_serving(
    server_url: str, mode: str
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        missing = await client.call_tool("get_user_profile", {"user_id": "u-9999"})
        wrong_type = await client.call_tool("get_user_profile", {"user_id": 7})
        extra = await client.call_tool("list_users", {"limit": 5, "page": 2})
        too_big = await client.call_tool("list_users", {"limit": 1000})
        dot = await client.call_tool("get_user_profile", {"user_id": "."})
        still_fine = await client.call_tool("list_users", {"limit": 1})
    assert tool_error(missing) == ReportedError("not_found", "no user with id 'u-9999'")
    for result, where in (
        (wrong_type, "user_id"),
        (extra, "page: unknown argument"),
        (too_big, "limit"),
    ):
        assert tool_error(result).code == "invalid_argument"
        assert where in tool_error(result).message
    assert "less than or equal to 100" in tool_error(too_big).message
    assert tool_error(dot).code == "invalid_argument", "never /users/. -> /users"
    assert not still_fine.is_error


async def test_health_and_the_embedded_reference_api(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        ready = await http.get("/health/ready")
        openapi = await http.get("/api/openapi.json")
        user = await http.get("/api/users/u-0001")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"ok": True}}
    assert "/users/{user_id}" in openapi.json()["paths"]
    assert user.json()["user_id"] == "u-0001"


async def test_a_foreign_host_header_is_refused(server_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Host": "evil.example.com", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/mcp", json=body, headers=headers)
    assert response.status_code == 421


async def test_an_unreachable_api_is_named_but_its_address_is_not(
    unused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    api_url = f"http://127.0.0.1:{unused_port}/directory-v2"
    async with (
        serve(build_app(UsersSettings(api_url=api_url, api_retries=0))) as url,
        httpx.AsyncClient() as http,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
    ):
        ready = await http.get(f"{url}/health/ready")
        listed = await client.call_tool("list_users", {})
    assert ready.status_code == 503
    assert ready.json()["checks"]["users-api"] == {
        "ok": False,
        "error": "users API unreachable (ConnectError)",
    }
    assert tool_error(listed) == ReportedError(
        "upstream_unavailable", "users API unreachable (ConnectError)"
    )
    assert f":{unused_port}" not in ready.text
    assert f"{api_url}/users failed: ConnectError" in caplog.text, "the address is in the log"


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
