"""`mcp-client` against the real platform (aggregator + users, tickets, data), both protocols."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.server.lowlevel import Server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, Tool

from mcp_client import compat
from mcp_client.commands import discover
from mcp_client.conftest import run_cli
from mcp_client.settings import ClientSettings
from mcp_testkit.testing import PROTOCOL_MODES, serve

pytestmark = pytest.mark.anyio

CONTRACT_TOOLS = ["create_ticket", "get_user_profile", "list_tickets", "list_users", "query_data"]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_tools_shows_every_tool_with_its_inputs_and_description(
    platform_url: str, mode: str
) -> None:
    run = await run_cli("--url", platform_url, "--protocol", mode, "tools")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    inputs_at = lines[0].index("INPUTS")
    rows = [line[:inputs_at].strip() for line in lines if line and not line[0].isspace()]
    assert [row for row in rows if row in CONTRACT_TOOLS] == CONTRACT_TOOLS
    assert "user_id*: string" in run.out
    assert "priority*: low|medium|high|critical" in run.out
    assert "Look up one person in the company directory" in run.out
    assert lines[-1] == f"5 tools at {platform_url}"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_tools_json_is_the_listing_for_scripts(platform_url: str, mode: str) -> None:
    run = await run_cli("--url", platform_url, "--protocol", mode, "tools", "--json")
    assert run.code == 0, run.err
    tools = {tool["name"]: tool for tool in run.json()}
    assert sorted(tools) == CONTRACT_TOOLS
    assert tools["get_user_profile"]["inputSchema"]["required"] == ["user_id"]
    assert "ticket_id" in tools["create_ticket"]["outputSchema"]["properties"]
    assert tools["list_users"]["annotations"]["readOnlyHint"] is True


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_validate_passes_on_the_platform(platform_url: str, mode: str) -> None:
    run = await run_cli("--url", platform_url, "--protocol", mode, "validate")
    assert (run.code, run.out) == (0, f"checked 5 tools at {platform_url}: no problems\n")


async def test_contract_passes_on_its_own_contract_and_fails_on_a_removed_tool(
    platform_url: str, tmp_path: Path
) -> None:
    settings = ClientSettings(server_url=platform_url)
    published = compat.contract_of(await discover(settings))
    same = tmp_path / "same.json"
    same.write_text(compat.dump_contract(published))
    run = await run_cli("--url", platform_url, "contract", str(same))
    assert run.code == 0, run.out + run.err
    assert run.out.endswith("0 breaking, 0 compatible changes\n")

    retired = {**published["tools"]["list_users"], "annotations": {}}
    older = tmp_path / "older.json"
    older.write_text(compat.dump_contract({"tools": {**published["tools"], "retired": retired}}))
    run = await run_cli("--url", platform_url, "contract", str(older))
    assert run.code == 1
    assert "breaking: retired: tool was removed" in run.out

    run = await run_cli("--url", platform_url, "contract", str(tmp_path / "missing.json"))
    assert run.code == 2
    assert "cannot read the contract" in run.err


def _broken_server() -> Server[object]:
    tools = [
        Tool(name="no output", description="Name with a space.", input_schema={"type": "object"}),
        Tool(
            name="bad_schema",
            description="Its input schema is not JSON Schema.",
            input_schema={"type": "object", "properties": {"a": {"type": "text"}}},
            output_schema={"type": "object"},
        ),
    ]

    async def list_tools(ctx: object, params: object) -> ListToolsResult:
        return ListToolsResult(tools=tools)

    async def call_tool(ctx: object, params: CallToolRequestParams) -> CallToolResult:
        return CallToolResult(content=[])

    return Server("broken", on_list_tools=list_tools, on_call_tool=call_tool)


async def test_validate_names_each_problem_and_fails() -> None:
    app = _broken_server().streamable_http_app(stateless_http=True)
    async with serve(app) as url:
        text = await run_cli("--url", f"{url}/mcp", "validate")
        as_json = await run_cli("--url", f"{url}/mcp", "validate", "--json")
    assert text.code == 1
    assert text.out.splitlines() == [
        "problem: no output: name: not a valid tool name (1 to 128 of A-Z a-z 0-9 _ . -)",
        "problem: no output: outputSchema: missing: a client cannot check what the tool returns",
        "problem: bad_schema: inputSchema: not valid JSON Schema 2020-12 at properties/a/type: "
        "'text' is not valid under any of the given schemas",
        f"checked 2 tools at {url}/mcp: 3 problems",
    ]
    assert as_json.code == 1
    assert as_json.json()["tools"] == 2
    assert [p["where"] for p in as_json.json()["problems"]] == [
        "name",
        "outputSchema",
        "inputSchema",
    ]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_call_prints_the_structured_result(platform_url: str, mode: str) -> None:
    pairs = await run_cli(
        "--url", platform_url, "--protocol", mode, "call", "list_users", "limit=2"
    )
    args = await run_cli(
        "--url",
        platform_url,
        "--protocol",
        mode,
        "call",
        "query_data",
        "--args",
        '{"dataset": "sales", "filters": {"region": "EMEA"}, "limit": 4}',
    )
    assert pairs.code == 0, pairs.err
    assert [user["user_id"] for user in pairs.json()["items"]] == ["u-0001", "u-0002"]
    assert pairs.json()["total"] == 42
    assert args.code == 0, args.err
    assert args.json()["row_count"] == 4
    assert {row["region"] for row in args.json()["rows"]} == {"EMEA"}


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_tool_error_prints_its_error_and_exits_1(platform_url: str, mode: str) -> None:
    run = await run_cli(
        "--url", platform_url, "--protocol", mode, "call", "get_user_profile", "user_id=u-9999"
    )
    assert run.code == 1
    assert run.json()["error"]["code"] == "not_found"
    assert run.err == "mcp-client: get_user_profile failed: not_found: no user with id 'u-9999'\n"


async def test_an_unknown_tool_is_refused_naming_the_known_ones(platform_url: str) -> None:
    run = await run_cli("--url", platform_url, "call", "get_user")
    assert run.code == 1
    assert run.out == ""
    assert run.err.startswith("mcp-client: the MCP server at ")
    assert "unknown tool 'get_user'; known: create_ticket, get_user_profile" in run.err


async def test_malformed_call_arguments_are_a_usage_error(platform_url: str) -> None:
    run = await run_cli("--url", platform_url, "call", "list_users", "limit")
    assert (run.code, run.err) == (2, "mcp-client: expected key=value, got 'limit'\n")


async def test_a_wrong_path_says_where_the_endpoint_usually_is(platform_url: str) -> None:
    run = await run_cli("--url", platform_url.removesuffix("/mcp") + "/nope", "tools")
    assert run.code == 1
    assert "HTTP 404: is the URL the MCP endpoint, usually ending in /mcp?" in run.err


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_demo_calls_an_example_of_every_tool(
    platform_url: str, mode: str, version: str
) -> None:
    first = await run_cli("--url", platform_url, "--protocol", mode, "demo")
    again = await run_cli("--url", platform_url, "--protocol", mode, "demo")
    tickets = await run_cli("--url", platform_url, "call", "list_tickets", "limit=100")
    assert first.code == 0, first.out
    assert f"(protocol {version}); 5 tools: {', '.join(CONTRACT_TOOLS)}" in first.out
    for name in CONTRACT_TOOLS:
        assert f"\n{name} {{" in first.out
    assert first.out.count("\n  ok: ") == 5
    assert first.out.rstrip().endswith("demo: 5 tools, 5 ok, 0 failed, 0 skipped")
    assert again.code == 0
    demo_tickets = [t for t in tickets.json()["items"] if t["title"] == "mcp-client demo ticket"]
    assert len(demo_tickets) == 1, "a repeated demo returns its first ticket (idempotency key)"


def test_the_module_runs_as_a_program_reading_the_environment() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        "MCP_SERVER_URL": "http://127.0.0.1:9/mcp",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mcp_client", "tools"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr == (
        "mcp-client: cannot reach the MCP server at http://127.0.0.1:9/mcp: connection refused "
        "(is it running? set MCP_SERVER_URL or --url)\n"
    )


async def test_the_program_against_the_platform(platform_url: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        "MCP_SERVER_URL": platform_url,
        "MCP_PROTOCOL": "legacy",
    }
    done = await anyio.run_process(
        [sys.executable, "-m", "mcp_client", "call", "get_user_profile", "user_id=u-0007"],
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b'"user_id": "u-0007"' in done.stdout
