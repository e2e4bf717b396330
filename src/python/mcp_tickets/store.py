"""The ticket tracker's table and queries (SQLAlchemy Core) and its demo data.

`created_at` is stored as fixed-width ISO 8601 UTC text (`2025-03-03T09:00:00.000000Z`), not a
DateTime column: SQLite has no timezone-aware type while PostgreSQL's is `timestamptz`, and text
reads back identically from both. Being fixed-width, its text order is its time order.

Reporters live in their own table (`ticket_reporters`, one row per ticket a person opened,
written in the ticket's transaction): `create_all` adds it to a database made before
reporters existed, where a new column would need a migration; older tickets have none.

Idempotent creation: `idempotency_key` is UNIQUE, so of two creates racing with one key exactly
one insert commits; the other fails on the key, reads the winner's row and returns it (same
body) or reports a conflict (different body).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mcp_common.database import ReadConnection
from mcp_tickets.models import (
    MAX_DESCRIPTION,
    MAX_IDEMPOTENCY_KEY,
    MAX_TITLE,
    Priority,
    Reporter,
    Status,
    Ticket,
    TicketDraft,
    TicketPage,
)

logger = logging.getLogger(__name__)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_WIDTH = len("2025-03-03T09:00:00.000000Z")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(MAX_IDEMPOTENCY_KEY), nullable=True, unique=True),
    Column("title", String(MAX_TITLE), nullable=False),
    Column("description", String(MAX_DESCRIPTION), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", String(27), nullable=False),
    CheckConstraint(_one_of("priority", get_args(Priority)), name="tickets_priority_known"),
    CheckConstraint(_one_of("status", get_args(Status)), name="tickets_status_known"),
    Index("tickets_newest_first", "created_at", "id"),
    Index("tickets_by_status_newest_first", "status", "created_at", "id"),
    # SQLite: never reuse an id, as PostgreSQL's sequence never does.
    sqlite_autoincrement=True,
)

reporters = Table(
    "ticket_reporters",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id"), primary_key=True),
    Column("object_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Index("ticket_reporters_by_person", "object_id", "ticket_id"),
)

_ORDER = (tickets.c.created_at.desc(), tickets.c.id.desc())
_WITH_REPORTER = tickets.outerjoin(reporters, reporters.c.ticket_id == tickets.c.id)
_COLUMNS = (
    *tickets.c,
    reporters.c.object_id.label("reporter_oid"),
    reporters.c.name.label("reporter_name"),
)


class IdempotencyConflict(Exception):
    """The idempotency key was already used to create a ticket with a different body."""

    def __init__(self, key: str, existing: Ticket) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used to create ticket {existing.ticket_id} "
            "with a different title, description or priority; use a new key for a new ticket"
        )
        self.key = key
        self.existing = existing


def format_ticket_id(number: int) -> str:
    """`T-` and the row number zero-padded to six digits, e.g. 123 -> T-000123."""
    return f"T-{number:06d}"


def format_time(moment: datetime) -> str:
    """The stored form of a timezone-aware time: fixed-width ISO 8601 in UTC."""
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


_DEMO = [
    ("VPN drops every 30 minutes", "high", "in_progress", "2025-03-03T09:12:00"),
    ("Third-floor printer jams on duplex", "low", "open", "2025-03-04T10:05:00"),
    ("Cannot open the payroll portal", "critical", "resolved", "2025-03-05T08:47:00"),
    ("Request: a second monitor", "low", "closed", "2025-03-06T14:30:00"),
    # Opened in the same second as the one above: the order falls back to the id.
    ("Calendar not syncing to phone", "medium", "open", "2025-03-06T14:30:00"),
    ("Laptop battery is swollen", "high", "resolved", "2025-03-07T11:02:00"),
    ("Finance needs access to the shared drive", "medium", "in_progress", "2025-03-10T09:40:00"),
    ("Wi-Fi slow in meeting room B", "medium", "open", "2025-03-11T16:18:00"),
]


def demo_tickets() -> list[dict[str, Any]]:
    """Deterministic demo tickets with fixed ids and keys, so a second seeder's insert fails."""
    return [
        {
            "id": index,
            "idempotency_key": f"demo-seed:{index:04d}",
            "title": title,
            "description": f"{title}. Reported through the service desk (demo data).",
            "priority": priority,
            "status": status,
            "created_at": format_time(datetime.fromisoformat(opened).replace(tzinfo=UTC)),
        }
        for index, (title, priority, status, opened) in enumerate(_DEMO, start=1)
    ]


async def seed(connection: AsyncConnection) -> None:
    """Insert the demo tickets (T-000001 to T-000008) into an empty table."""
    count = (await connection.execute(select(func.count()).select_from(tickets))).scalar_one()
    if count == 0:
        await connection.execute(tickets.insert(), demo_tickets())
        if connection.dialect.name == "postgresql":
            # Rows inserted with explicit ids leave the id sequence behind; move it past them.
            await connection.execute(
                text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), max(id)) FROM tickets")
            )


def parse_time(stored: str) -> datetime:
    """A stored time back as a timezone-aware datetime.

    Raises:
        ValueError: `stored` is not in the stored form.
    """
    if len(stored) == _TIME_WIDTH and stored[-1] == "Z" and stored[10] == "T":
        # The stored form is ISO 8601, which the C parser reads about 50x faster than
        # `strptime` (the bulk of a page's cost); anything else takes the strict path.
        return datetime.fromisoformat(stored)
    return datetime.strptime(stored, _TIME_FORMAT).replace(tzinfo=UTC)


def _ticket(row: Any) -> Ticket:
    return Ticket(
        ticket_id=format_ticket_id(row.id),
        title=row.title,
        description=row.description,
        priority=row.priority,
        status=row.status,
        created_at=parse_time(row.created_at),
        reporter=(
            Reporter(object_id=row.reporter_oid, name=row.reporter_name)
            if getattr(row, "reporter_oid", None)
            else None
        ),
    )


async def _by_key(engine: AsyncEngine, key: str) -> Any:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(*_COLUMNS).select_from(_WITH_REPORTER).where(tickets.c.idempotency_key == key)
        )
        return result.first()


def _replay(row: Any, draft: TicketDraft, key: str) -> Ticket:
    existing = _ticket(row)
    same = (row.title, row.description, row.priority) == (
        draft.title,
        draft.description,
        draft.priority,
    )
    if not same:
        raise IdempotencyConflict(key, existing)
    return existing


async def create_ticket(
    engine: AsyncEngine,
    draft: TicketDraft,
    idempotency_key: str | None = None,
    reporter: Reporter | None = None,
) -> tuple[Ticket, bool]:
    """Open a ticket, committed before this returns; `(ticket, True)` when it was created now.

    `reporter` is recorded in the same transaction (both rows or neither). With an
    `idempotency_key` already used for the same body, returns `(that ticket, False)`.

    Raises:
        IdempotencyConflict: the key was used before for a different body.
    """
    if idempotency_key is not None:
        row = await _by_key(engine, idempotency_key)
        if row is not None:
            return _replay(row, draft, idempotency_key), False
    values = {
        "idempotency_key": idempotency_key,
        "title": draft.title,
        "description": draft.description,
        "priority": draft.priority,
        "status": "open",
        "created_at": format_time(datetime.now(UTC)),
    }
    try:
        # One transaction: the row is committed (and durable) when the block exits.
        async with engine.begin() as connection:
            inserted = tickets.insert().values(**values).returning(*tickets.c)
            row = (await connection.execute(inserted)).one()
            if reporter is not None:
                await connection.execute(
                    reporters.insert().values(
                        ticket_id=row.id, object_id=reporter.object_id, name=reporter.name
                    )
                )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent create with the same key committed first; its row is the answer.
        row = await _by_key(engine, idempotency_key)
        if row is None:
            raise
        logger.info("idempotent create raced another with the same key; replaying its ticket")
        return _replay(row, draft, idempotency_key), False
    ticket = _ticket(row)  # the inserted row has no reporter columns: add the one recorded
    return ticket.model_copy(update={"reporter": reporter}), True


async def list_tickets(
    connection: ReadConnection,
    status: Status | None,
    skip: int,
    limit: int,
    reporter: str | None = None,
) -> TicketPage:
    """One page of tickets (all, or those with `status`, or opened by the person whose object
    id is `reporter`), newest first, ties by higher id."""
    page, count = _STATEMENTS[(status is not None, reporter is not None)]
    parameters: dict[str, Any] = {"skip": skip, "limit": limit}
    if status is not None:
        parameters["status"] = status
    if reporter is not None:
        parameters["reporter"] = reporter
    rows = (await connection.execute(page, parameters)).all()
    if rows:
        total = rows[0][-1]
    else:  # past the end: no row carries the total
        total = (await connection.execute(count, parameters)).scalar_one()
    items = [_ticket(row) for row in rows]
    return TicketPage(
        items=items, total=total, skip=skip, limit=limit, has_more=skip + len(items) < total
    )


_STATUS = bindparam("status", type_=String)
_REPORTER = bindparam("reporter", type_=String)


def _statements(by_status: bool, by_reporter: bool) -> tuple[Any, Any]:
    """(the page, the count) for one combination of filters.

    One statement per page: the rows and the total matching the filters, as an uncorrelated
    scalar subquery (evaluated once, before OFFSET and LIMIT apply). A window count
    (`count(*) OVER ()`) gives the same total but makes SQLite read and sort every matching
    row instead of walking the newest-first index.
    """
    conditions = []
    if by_status:
        conditions.append(tickets.c.status == _STATUS)
    if by_reporter:
        conditions.append(reporters.c.object_id == _REPORTER)
    source = (
        tickets.join(reporters, reporters.c.ticket_id == tickets.c.id) if by_reporter else tickets
    )
    count = select(func.count()).select_from(source).where(*conditions).correlate(None)
    page = (
        select(*_COLUMNS, count.scalar_subquery().label("total"))
        .select_from(_WITH_REPORTER)
        .where(*conditions)
        .order_by(*_ORDER)
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    return page, count


# Built once: (by status, by reporter) -> (page, count).
_STATEMENTS = {(s, r): _statements(s, r) for s in (False, True) for r in (False, True)}
