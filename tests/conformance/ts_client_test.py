"""The official TypeScript SDK client (`@modelcontextprotocol/sdk` 1.32.2, what most MCP hosts
are built on) against the aggregator in front of the real domain servers.

That client checks `structuredContent` against the tool's `outputSchema` even when `isError`
is set; a tool error must still reach it as the tool's own message, with the code readable in
`_meta` (see `mcp_common.errors`). The client speaks the 2025-11-25 handshake generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.suite import ensure_suite
from mcp_client.conftest import inprocess_platform
from mcp_common.errors import ERROR_META_KEY

pytestmark = pytest.mark.anyio

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_users", {"limit": 2}),
    ("get_user_profile", {"user_id": "u-9999"}),
    ("query_data", {"dataset": "nope"}),
    ("list_tickets", {"limit": 1000}),
    ("query_data", {"dataset": "sales", "limit": 1}),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_typescript_sdk_client_lists_calls_and_reads_tool_errors(tmp_path: Path) -> None:
    suite = await ensure_suite()
    async with inprocess_platform(tmp_path) as platform:
        seen = await suite.run_ts_client(platform.url, CALLS, token=platform.token)
    assert set(seen["tools"]) == {
        "create_ticket",
        "get_user_profile",
        "list_tickets",
        "list_users",
        "query_data",
    }
    listed, missing, unknown_dataset, too_many, one_row = seen["calls"]
    assert [call["thrown"] for call in seen["calls"]] == [None] * len(CALLS), seen["calls"]
    assert listed["isError"] is False
    assert [user["user_id"] for user in listed["structuredContent"]["items"]] == [
        "u-0001",
        "u-0002",
    ]
    assert one_row["structuredContent"]["row_count"] == 1

    # The tool's own words arrive, not "Structured content does not match ...".
    assert missing["isError"] is True
    assert missing["text"] == "not_found: no user with id 'u-9999'"
    assert missing["meta"] == {ERROR_META_KEY: {"code": "not_found"}}
    assert unknown_dataset["text"].startswith("invalid_argument: unknown dataset 'nope'; known: ")
    assert unknown_dataset["meta"][ERROR_META_KEY]["code"] == "invalid_argument"
    assert "limit" in too_many["text"]
    assert too_many["meta"][ERROR_META_KEY]["code"] == "invalid_argument"
