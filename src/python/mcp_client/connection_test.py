"""Servers that cannot be reached or do not answer: one clear line, a distinct exit code."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_client.conftest import run_cli
from mcp_client.settings import PROTOCOL_MODES
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_an_unreachable_server_is_one_line_naming_the_url_and_cause(
    closed_port: int, mode: str
) -> None:
    url = f"http://127.0.0.1:{closed_port}/mcp"
    run = await run_cli("--url", url, "--protocol", mode, "tools")
    assert (run.code, run.out) == (3, "")
    assert run.err == (
        f"mcp-client: cannot reach the MCP server at {url}: connection refused "
        "(is it running? set MCP_SERVER_URL or --url)\n"
    )


async def test_an_unknown_host_names_the_resolver_failure() -> None:
    run = await run_cli("--url", "http://no-such-host.invalid/mcp", "tools")
    assert run.code == 3
    assert run.err.startswith("mcp-client: cannot reach the MCP server at ")
    assert "no-such-host.invalid" in run.err
    assert len(run.err.splitlines()) == 1


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_server_that_never_answers_times_out_after_discovery_timeout(
    silent_server: int, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCOVERY_TIMEOUT", "0.5")
    url = f"http://127.0.0.1:{silent_server}/mcp"
    # Bounded well below the default timeout (10 s, and the SDK's own 10 s discovery probe).
    with anyio.fail_after(8):
        run = await run_cli("--url", url, "--protocol", mode, "validate")
    assert run.code == 3
    assert run.err == (
        f"mcp-client: the MCP server at {url} did not answer within 0.5 s (DISCOVERY_TIMEOUT)\n"
    )


async def test_a_call_slower_than_call_timeout_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = MCPServer("slow")

    @server.tool(description="Sleeps.")
    async def nap(seconds: float) -> dict[str, float]:
        await anyio.sleep(seconds)
        return {"slept": seconds}

    monkeypatch.setenv("CALL_TIMEOUT", "0.3")
    async with serve(server.streamable_http_app(stateless_http=True)) as url:
        quick = await run_cli("--url", f"{url}/mcp", "call", "nap", "seconds=0.01")
        with anyio.fail_after(8):
            slow = await run_cli("--url", f"{url}/mcp", "call", "nap", "seconds=5")
    assert quick.code == 0, quick.err
    assert quick.json() == {"slept": 0.01}
    assert (slow.code, slow.err) == (
        3,
        "mcp-client: nap did not answer within 0.3 s (CALL_TIMEOUT)\n",
    )


async def test_invalid_settings_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCOVERY_TIMEOUT", "soon")
    run = await run_cli("tools")
    assert run.code == 2
    assert run.err.startswith("mcp-client: invalid settings: DISCOVERY_TIMEOUT: ")
