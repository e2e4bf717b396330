"""The tickets server started for real and driven by the real MCP client, in both protocol generations."""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error
from mcp_tickets.app import build_app
from mcp_tickets.settings import TicketsSettings

pytestmark = pytest.mark.anyio

SEEDED_NEWEST_FIRST = [f"T-{number:06d}" for number in range(8, 0, -1)]
NEW_TICKET = {
    "title": "Badge reader at the side door rejects every badge",
    "description": "Since this morning the reader blinks red for everyone; the front door works.",
    "priority": "high",
}


def structured(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


def error_of(result: Any) -> dict[str, Any]:
    error = tool_error(result)
    return {"code": error.code, "message": error.message}


@pytest.fixture
async def server_url(database_url: str) -> AsyncIterator[str]:
    settings = TicketsSettings(database_url=database_url, demo=True)
    async with serve(build_app(settings)) as url:
        yield url


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_lists_exactly_the_tickets_tools_with_schemas_and_hints(
    server_url: str, mode: str
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"create_ticket", "list_tickets"}
    create, listing = tools["create_ticket"], tools["list_tickets"]
    assert create.input_schema["required"] == ["title", "description", "priority"]
    assert create.input_schema["properties"]["priority"]["enum"] == [
        "low",
        "medium",
        "high",
        "critical",
    ]
    assert create.input_schema["properties"]["title"]["maxLength"] == 200
    assert create.input_schema["additionalProperties"] is False
    assert listing.input_schema["additionalProperties"] is False
    assert listing.input_schema["properties"]["limit"]["maximum"] == 100
    status_choices = [
        choice.get("enum") for choice in listing.input_schema["properties"]["status"]["anyOf"]
    ]
    assert ["open", "in_progress", "resolved", "closed"] in status_choices
    assert create.output_schema is not None
    assert {"ticket_id", "status", "created_at"} <= set(create.output_schema["properties"])
    assert listing.output_schema is not None
    assert {"items", "total", "has_more"} <= set(listing.output_schema["properties"])
    assert create.annotations is not None
    assert create.annotations.read_only_hint is False
    assert create.annotations.destructive_hint is False
    assert create.annotations.idempotent_hint is False
    assert create.annotations.open_world_hint is False
    assert listing.annotations is not None
    assert listing.annotations.read_only_hint is True
    assert listing.annotations.idempotent_hint is True


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_created_ticket_is_open_and_listed_first(server_url: str, mode: str) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        before = await client.call_tool("list_tickets", {"limit": 1})
        created = await client.call_tool("create_ticket", NEW_TICKET)
        after = await client.call_tool("list_tickets", {"limit": 3})
    assert structured(before)["total"] == 8
    assert not created.is_error
    ticket = structured(created)
    assert re.fullmatch(r"T-\d{6}", ticket["ticket_id"])
    assert ticket["ticket_id"] not in SEEDED_NEWEST_FIRST
    assert {key: ticket[key] for key in NEW_TICKET} == NEW_TICKET
    assert ticket["status"] == "open"
    opened = datetime.fromisoformat(ticket["created_at"])
    assert opened.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - opened) < timedelta(minutes=1)
    assert json.loads(created.content[0].text) == ticket  # type: ignore[union-attr]
    page = structured(after)
    assert page["total"] == 9
    assert page["items"][0] == ticket
    assert [item["ticket_id"] for item in page["items"][1:]] == SEEDED_NEWEST_FIRST[:2]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_status_filter_lists_only_that_status(server_url: str, mode: str) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        open_before = await client.call_tool("list_tickets", {"status": "open"})
        closed = await client.call_tool("list_tickets", {"status": "closed"})
        created = await client.call_tool("create_ticket", NEW_TICKET)
        open_after = await client.call_tool("list_tickets", {"status": "open", "limit": 2})
        resolved = await client.call_tool("list_tickets", {"status": "resolved"})
        everything = await client.call_tool("list_tickets", {"status": None, "limit": 100})
    assert [t["ticket_id"] for t in structured(open_before)["items"]] == [
        "T-000008",
        "T-000005",
        "T-000002",
    ]
    assert structured(open_before)["total"] == 3
    assert [t["ticket_id"] for t in structured(closed)["items"]] == ["T-000004"]
    page = structured(open_after)
    assert page["total"] == 4
    assert page["has_more"] is True
    assert [t["ticket_id"] for t in page["items"]] == [structured(created)["ticket_id"], "T-000008"]
    assert {t["status"] for t in structured(resolved)["items"]} == {"resolved"}
    assert structured(resolved)["total"] == 2
    assert structured(everything)["total"] == 9
    assert len(structured(everything)["items"]) == 9


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_list_tickets_pages_newest_first(server_url: str, mode: str) -> None:
    pages = []
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        for skip in (0, 3, 6, 8):
            pages.append(
                structured(await client.call_tool("list_tickets", {"skip": skip, "limit": 3}))
            )
    assert [page["has_more"] for page in pages] == [True, True, False, False]
    assert {page["total"] for page in pages} == {8}
    assert [(page["skip"], page["limit"]) for page in pages] == [(0, 3), (3, 3), (6, 3), (8, 3)]
    listed = [ticket["ticket_id"] for page in pages for ticket in page["items"]]
    assert listed == SEEDED_NEWEST_FIRST
    times = [ticket["created_at"] for page in pages for ticket in page["items"]]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_retried_create_with_the_same_key_returns_the_same_ticket(
    server_url: str, mode: str
) -> None:
    keyed = {**NEW_TICKET, "idempotency_key": f"retry-{uuid.uuid4()}"}
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        first = await client.call_tool("create_ticket", keyed)
        again = await client.call_tool("create_ticket", keyed)
        unkeyed = await client.call_tool("create_ticket", NEW_TICKET)
        listed = await client.call_tool("list_tickets", {"limit": 100})
    assert not first.is_error
    assert not again.is_error
    assert structured(again) == structured(first)
    assert structured(unkeyed)["ticket_id"] != structured(first)["ticket_id"]
    assert structured(listed)["total"] == 10  # 8 seeded, one keyed (twice), one unkeyed
    ids = [ticket["ticket_id"] for ticket in structured(listed)["items"]]
    assert ids.count(structured(first)["ticket_id"]) == 1


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_reusing_a_key_for_a_different_ticket_is_a_conflict(
    server_url: str, mode: str
) -> None:
    key = f"reuse-{uuid.uuid4()}"
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        first = await client.call_tool("create_ticket", {**NEW_TICKET, "idempotency_key": key})
        other = await client.call_tool(
            "create_ticket", {**NEW_TICKET, "priority": "low", "idempotency_key": key}
        )
        replay = await client.call_tool("create_ticket", {**NEW_TICKET, "idempotency_key": key})
        listed = await client.call_tool("list_tickets", {"limit": 1})
    error = error_of(other)
    assert error["code"] == "conflict"
    assert key in error["message"]
    assert structured(first)["ticket_id"] in error["message"]
    assert structured(replay) == structured(first)
    assert structured(listed)["total"] == 9


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_bad_input_gets_coded_tool_errors_and_the_server_keeps_serving(
    server_url: str, mode: str
) -> None:
    bad_calls: list[tuple[str, dict[str, Any], str]] = [
        ("create_ticket", {**NEW_TICKET, "priority": "urgent"}, "priority"),
        ("create_ticket", {**NEW_TICKET, "title": 7}, "title"),
        ("create_ticket", {**NEW_TICKET, "assignee": "u-0001"}, "assignee: unknown argument"),
        ("create_ticket", {**NEW_TICKET, "title": "   "}, "title"),
        ("create_ticket", {**NEW_TICKET, "title": "x" * 201}, "title"),
        ("create_ticket", {"title": "No description", "priority": "low"}, "description"),
        ("create_ticket", {**NEW_TICKET, "idempotency_key": "has spaces"}, "idempotency_key"),
        ("list_tickets", {"limit": 1000}, "limit"),
        ("list_tickets", {"status": "pending"}, "status"),
        ("list_tickets", {"skip": -1}, "skip"),
    ]
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        results = [await client.call_tool(name, args) for name, args, _ in bad_calls]
        still_fine = await client.call_tool("list_tickets", {"limit": 1})
    for result, (name, _, where) in zip(results, bad_calls, strict=True):
        error = error_of(result)
        assert error["code"] == "invalid_argument", (name, where)
        assert error["message"].startswith(f"invalid arguments for {name}: ")
        assert where in error["message"], (name, where)
    assert "low', 'medium', 'high' or 'critical" in error_of(results[0])["message"]
    assert "less than or equal to 100" in error_of(results[7])["message"]
    assert not still_fine.is_error
    assert structured(still_fine)["total"] == 8  # nothing was created by the rejected calls


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_created_ticket_survives_a_restart(database_url: str, mode: str) -> None:
    settings = TicketsSettings(database_url=database_url, demo=True)
    async with serve(build_app(settings)) as url:
        async with Client(f"{url}/mcp", mode=mode) as client:
            created = structured(await client.call_tool("create_ticket", NEW_TICKET))
    async with serve(build_app(settings)) as url:
        async with Client(f"{url}/mcp", mode=mode) as client:
            listed = structured(await client.call_tool("list_tickets", {"limit": 100}))
    assert listed["total"] == 9  # the restart did not seed the demo tickets again
    assert listed["items"][0] == created


async def test_health_and_the_embedded_reference_api(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        ready = await http.get("/health/ready")
        openapi = (await http.get("/api/openapi.json")).json()
        open_tickets = await http.get("/api/tickets", params={"status": "open"})
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"ok": True}}
    create = openapi["paths"]["/tickets"]["post"]
    assert {"200", "201", "409"} <= set(create["responses"])
    assert "Idempotency-Key" in [parameter["name"] for parameter in create["parameters"]]
    assert open_tickets.json()["total"] == 3


@pytest.mark.parametrize("path", ["/mcp", "/api/tickets"])
async def test_a_client_gone_mid_request_is_a_debug_line_not_an_error(
    server_url: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host, port = server_url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: 4096\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call"')
    quiet = f"client disconnected before sending all of POST {path}; nothing was run"
    with anyio.fail_after(10):
        while quiet not in caplog.text:
            await anyio.sleep(0.05)
    async with Client(f"{server_url}/mcp", mode="2026-07-28") as client:
        listed = await client.call_tool("list_tickets", {})
    assert structured(listed)["total"] == 8, "still serving, and nothing was created"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
