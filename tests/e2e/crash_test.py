"""Nothing lost: the tickets server SIGKILLed while many create_ticket calls run through the
aggregator, then restarted on the same database (SQLite, then PostgreSQL).

Real processes, as the local stack runs them. Checked against the database itself:
- every ticket whose creation was reported successful exists, with the body it was sent;
- each idempotency key has exactly one row once the calls that failed in the crash are
  retried with their keys after the restart, and each retry returns that row's ticket;
- a call without a key (sent once, never resent by anyone) left at most one row;
- no row is half-written: each of this test's rows is one of the bodies sent, complete.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

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
from mcp_testkit.postgres import create_database, find_postgres_bin, postgres_server

pytestmark = pytest.mark.anyio

CALLS = 240
KEYED_EVERY = 3  # two calls in three carry an idempotency key, the third none
WORKERS = 24
KILL_AFTER_SUCCESSES = 20
PREFIX = "crash-test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if find_postgres_bin() is None:
        if os.environ.get("MCP_REQUIRE_POSTGRES") == "1":
            pytest.fail("MCP_REQUIRE_POSTGRES=1 but no PostgreSQL server is installed")
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield create_database(url, "crash_test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/tickets.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _body(index: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": f"{PREFIX} {index:04d}",
        "description": f"Ticket {index} of the crash test; this text identifies it.",
        "priority": ("low", "medium", "high", "critical")[index % 4],
    }
    if index % KEYED_EVERY:
        body["idempotency_key"] = f"{PREFIX}:{index:04d}"
    return body


@dataclass
class Outcomes:
    succeeded: dict[int, str] = field(default_factory=dict)  # index -> ticket_id
    failed: set[int] = field(default_factory=set)  # no answer, or a tool error


@dataclass
class Platform:
    tickets: Running
    aggregator: Running
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"{self.aggregator.service.url}/mcp"


@contextlib.contextmanager
def _platform(root: Path, database_url: str) -> Iterator[Platform]:
    tickets = next(s for s in DOMAIN_SERVICES if s.name == "tickets")
    tickets = replace(tickets, port=_free_port())
    aggregator = replace(AGGREGATOR, port=_free_port())
    registry = root / "upstreams.yaml"
    registry.write_text(yaml.safe_dump(registry_document([tickets], authenticated=False)))
    env = {
        "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
        "MCP_AGGREGATOR_UNAVAILABLE_AFTER_SECONDS": "1",
        "MCP_TICKETS_DATABASE_URL": database_url,
    }
    running = start([[tickets], [aggregator]], root / "logs", env)
    platform = Platform(running[0], running[1], env)
    try:
        yield platform
    finally:
        stop([platform.tickets, platform.aggregator])


@contextlib.asynccontextmanager
async def _client(url: str) -> AsyncIterator[Client]:
    async with Client(url, mode="2026-07-28") as client:
        yield client


async def _create(client: Client, index: int) -> tuple[str | None, bool]:
    """(ticket_id or None, whether `client` is still usable)."""
    try:
        with anyio.fail_after(60):
            result = await client.call_tool("create_ticket", _body(index))
    except Exception:  # noqa: BLE001 - a call cut by the crash: its outcome is unknown
        return None, False
    if result.is_error or result.structured_content is None:
        return None, True
    return str(result.structured_content["ticket_id"]), True


async def _run_calls_and_kill(platform: Platform) -> Outcomes:
    outcomes = Outcomes()
    pending = list(range(CALLS))
    killed = anyio.Event()

    async def worker() -> None:
        client_scope: contextlib.AsyncExitStack | None = None
        client: Client | None = None
        try:
            while pending:
                index = pending.pop(0)
                if client is None:
                    client_scope = contextlib.AsyncExitStack()
                    client = await client_scope.enter_async_context(_client(platform.url))
                ticket_id, usable = await _create(client, index)
                if ticket_id is None:
                    outcomes.failed.add(index)
                else:
                    outcomes.succeeded[index] = ticket_id
                if len(outcomes.succeeded) >= KILL_AFTER_SUCCESSES and not killed.is_set():
                    killed.set()
                    os.kill(platform.tickets.process.pid, signal.SIGKILL)
                if not usable and client_scope is not None:
                    with contextlib.suppress(Exception):
                        await client_scope.aclose()
                    client = client_scope = None
        finally:
            if client_scope is not None:
                with contextlib.suppress(Exception):
                    await client_scope.aclose()

    async with anyio.create_task_group() as group:
        for _ in range(WORKERS):
            group.start_soon(worker)
    assert killed.is_set(), "the tickets server was never killed: too few calls succeeded"
    await anyio.to_thread.run_sync(platform.tickets.process.wait)
    return outcomes


async def _restart(platform: Platform) -> None:
    service, log_path = platform.tickets.service, platform.tickets.log_path
    platform.tickets = launch(service, log_path, platform.env)
    await anyio.to_thread.run_sync(wait_ready, platform.tickets)
    with anyio.fail_after(30):
        while True:
            async with _client(platform.url) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
            if "create_ticket" in names:
                return
            await anyio.sleep(0.2)


async def _rows(database_url: str) -> list[Any]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text(
                    "SELECT id, idempotency_key, title, description, priority, status, created_at"
                    " FROM tickets WHERE title LIKE :prefix ORDER BY id"
                ),
                {"prefix": f"{PREFIX} %"},
            )
            return list(result)
    finally:
        await engine.dispose()


def _ticket_id(row: Any) -> str:
    return f"T-{row.id:06d}"


async def test_a_killed_tickets_server_loses_and_duplicates_nothing(
    tmp_path: Path, database_url: str
) -> None:
    with _platform(tmp_path, database_url) as platform:
        with anyio.fail_after(240):
            outcomes = await _run_calls_and_kill(platform)
            assert outcomes.failed, "some calls must have met the crash"
            await _restart(platform)
            retried: dict[int, str] = {}
            async with _client(platform.url) as client:
                for index in sorted(outcomes.failed):
                    if "idempotency_key" not in _body(index):
                        continue  # sent once; whether it was created is what we check below
                    result = await client.call_tool("create_ticket", _body(index))
                    assert not result.is_error, (index, result.content)
                    assert result.structured_content is not None
                    retried[index] = str(result.structured_content["ticket_id"])
        rows = await _rows(database_url)
    unkeyed_rows = sum(1 for row in rows if row.idempotency_key is None)
    unkeyed_made = unkeyed_rows - sum(1 for i in outcomes.succeeded if i % KEYED_EVERY == 0)
    print(  # shown with -rP: how the crash fell
        f"{len(outcomes.succeeded)} reported created, {len(outcomes.failed)} failed in the crash "
        f"({len(retried)} retried with their keys); {len(rows)} rows; unkeyed calls that failed "
        f"but were committed: {unkeyed_made}"
    )

    by_index: dict[int, list[Any]] = {}
    for row in rows:
        index = int(row.title.removeprefix(f"{PREFIX} "))
        by_index.setdefault(index, []).append(row)
        # Whole rows only: exactly the body that was sent for that index, and a new ticket.
        body = _body(index)
        assert (row.title, row.description, row.priority) == (
            body["title"],
            body["description"],
            body["priority"],
        )
        assert row.idempotency_key == body.get("idempotency_key")
        assert row.status == "open"
        assert len(row.created_at or "") == 27, "created_at is written with the row"

    for index, ticket_id in outcomes.succeeded.items():
        assert [_ticket_id(row) for row in by_index.get(index, [])] == [
            ticket_id
        ], f"call {index} was reported as {ticket_id}; rows: {by_index.get(index)}"
    for index in range(CALLS):
        found = [_ticket_id(row) for row in by_index.get(index, [])]
        if "idempotency_key" in _body(index):
            expected = outcomes.succeeded.get(index) or retried[index]
            assert found == [expected], f"key of call {index}: rows {found}, answered {expected}"
        else:
            assert len(found) <= 1, f"unkeyed call {index} made {len(found)} tickets"
