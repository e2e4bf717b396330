"""The ticket store on a real database (SQLite, then PostgreSQL): idempotency under concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC

import pytest
from sqlalchemy import func, select, update

from mcp_common.database import Database
from mcp_tickets import store
from mcp_tickets.models import Status, TicketDraft, TicketPage

pytestmark = pytest.mark.anyio

DRAFT = TicketDraft(
    title="Monitor flickers",
    description="The left monitor flickers when docked.",
    priority="medium",
)


def open_database(url: str) -> Database:
    return Database(url, store.metadata, store.seed)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    async with database.lifespan():
        yield database


async def count_rows(database: Database, key: str | None = None) -> int:
    query = select(func.count()).select_from(store.tickets)
    if key is not None:
        query = query.where(store.tickets.c.idempotency_key == key)
    async with database.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def test_concurrent_creates_with_one_key_make_exactly_one_ticket(database: Database) -> None:
    results = await asyncio.gather(
        *(store.create_ticket(database.engine, DRAFT, "same-key") for _ in range(10))
    )
    assert len({ticket.ticket_id for ticket, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert await count_rows(database, "same-key") == 1
    assert await count_rows(database) == 9


async def test_concurrent_creates_with_one_key_and_different_bodies(database: Database) -> None:
    drafts = [DRAFT.model_copy(update={"title": f"Monitor flickers ({n})"}) for n in range(10)]
    outcomes = await asyncio.gather(
        *(store.create_ticket(database.engine, draft, "contested") for draft in drafts),
        return_exceptions=True,
    )
    winners = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, store.IdempotencyConflict)]
    assert len(winners) == 1
    assert len(conflicts) == 9
    winner, created = winners[0]
    assert created is True
    assert {conflict.existing.ticket_id for conflict in conflicts} == {winner.ticket_id}
    assert await count_rows(database, "contested") == 1


async def test_unkeyed_creates_are_never_merged(database: Database) -> None:
    results = await asyncio.gather(*(store.create_ticket(database.engine, DRAFT) for _ in range(5)))
    assert len({ticket.ticket_id for ticket, _ in results}) == 5
    assert all(created for _, created in results)
    assert await count_rows(database) == 13


async def test_created_at_reads_back_in_utc(database: Database) -> None:
    ticket, _ = await store.create_ticket(database.engine, DRAFT)
    async with database.engine.connect() as connection:
        page = await store.list_tickets(connection, "open", 0, 1)
    assert ticket.created_at.tzinfo is UTC
    assert page.items == [ticket]


async def test_tickets_opened_at_the_same_moment_list_by_higher_id_first(
    database: Database,
) -> None:
    first, _ = await store.create_ticket(database.engine, DRAFT)
    second, _ = await store.create_ticket(database.engine, DRAFT)
    # Make both opened in the same microsecond, far in the future so they list first.
    async with database.engine.begin() as connection:
        await connection.execute(
            update(store.tickets)
            .where(store.tickets.c.status == "open")
            .where(store.tickets.c.idempotency_key.is_(None))
            .values(created_at="2999-01-01T00:00:00.000000Z")
        )
        page = await store.list_tickets(connection, None, 0, 2)
    assert [ticket.ticket_id for ticket in page.items] == [second.ticket_id, first.ticket_id]


async def test_the_demo_tickets_are_seeded_once(database_url: str) -> None:
    # Two replicas starting together on PostgreSQL; on SQLite the same file opened twice.
    replicas = [open_database(database_url), open_database(database_url)]
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(r.lifespan()) for r in replicas))
        assert await count_rows(replicas[0]) == 8
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(replicas[0].lifespan())
        assert await count_rows(replicas[0]) == 8
        async with replicas[0].engine.connect() as connection:
            page = await store.list_tickets(connection, None, 0, 8)
    assert [ticket.ticket_id for ticket in page.items] == [f"T-{n:06d}" for n in range(8, 0, -1)]


async def _first_page(database: Database, status: Status | None) -> TicketPage:
    async with database.read() as connection:
        return await store.list_tickets(connection, status, 0, 1)


async def test_every_read_sees_the_tickets_created_before_it(database: Database) -> None:
    before = await _first_page(database, None)
    open_before = await _first_page(database, "open")
    for created in range(1, 4):
        ticket, _ = await store.create_ticket(database.engine, DRAFT)
        page = await _first_page(database, None)
        assert page.items == [ticket]
        assert page.total == before.total + created
        assert (await _first_page(database, "open")).total == open_before.total + created


async def test_reads_at_the_same_time_both_answer(database: Database) -> None:
    async with database.read() as outer:
        async with database.read() as inner:
            first = await store.list_tickets(inner, None, 0, 3)
        second = await store.list_tickets(outer, None, 0, 3)
    assert first == second
    assert len(first.items) == 3
