"""The user directory's tables and queries (SQLAlchemy Core) and its demo data."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mcp_common.database import ReadConnection
from mcp_users.models import UserDetails, UserPage, UserProfile, UserSummary

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("email", String(200), nullable=False, unique=True),
    Column("department", String(100), nullable=False),
    Column("title", String(100), nullable=False),
    Column("phone", String(40), nullable=False),
    Column("location", String(100), nullable=False),
    Column("manager_id", String(64), nullable=True),
    Column("hired_on", String(10), nullable=False),
    Column("groups_json", String(2000), nullable=False),
)

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
_DEPARTMENTS = ["Engineering", "Finance", "Sales", "Support", "People"]
_LOCATIONS = ["Amsterdam", "Dublin", "Seattle", "Singapore"]


def demo_users(count: int = 42) -> list[dict[str, object]]:
    """A deterministic directory: the same ids and values on every machine."""
    rows: list[dict[str, object]] = []
    for index in range(1, count + 1):
        first, last = _FIRST[index % len(_FIRST)], _LAST[index % len(_LAST)]
        department = _DEPARTMENTS[index % len(_DEPARTMENTS)]
        rows.append(
            {
                "user_id": f"u-{index:04d}",
                "display_name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{index}@example.com",
                "department": department,
                "title": "Head of " + department if index <= len(_DEPARTMENTS) else "Specialist",
                "phone": f"+31 20 555 {index:04d}",
                "location": _LOCATIONS[index % len(_LOCATIONS)],
                "manager_id": None if index <= len(_DEPARTMENTS) else f"u-{(index % 5) + 1:04d}",
                "hired_on": (date(2015, 1, 5) + timedelta(days=47 * index)).isoformat(),
                "groups_json": json.dumps(sorted({department.lower(), "all-staff"})),
            }
        )
    return rows


async def seed(connection: AsyncConnection) -> None:
    """Insert the demo directory into an empty table."""
    count = (await connection.execute(select(func.count()).select_from(users))).scalar_one()
    if count == 0:
        await connection.execute(users.insert(), demo_users())


def _summary(row: object) -> UserSummary:
    mapping = row._mapping  # type: ignore[attr-defined]
    return UserSummary(**{name: mapping[name] for name in UserSummary.model_fields})


async def get_user(
    connection: ReadConnection, user_id: str, include_details: bool
) -> UserProfile | None:
    row = (await connection.execute(select(users).where(users.c.user_id == user_id))).first()
    if row is None:
        return None
    details = None
    if include_details:
        details = UserDetails(
            phone=row.phone,
            location=row.location,
            manager_id=row.manager_id,
            hired_on=row.hired_on,
            groups=json.loads(row.groups_json),
        )
    return UserProfile(**_summary(row).model_dump(), details=details)


_COUNT = select(func.count()).select_from(users)
# One statement per page, built once: the summary columns and the total, an uncorrelated
# scalar subquery (evaluated once, before OFFSET and LIMIT apply). A window count
# (`count(*) OVER ()`) gives the same total but makes SQLite read and sort the whole table
# instead of walking the key's index: about 4x the query's cost at 42 rows, growing with it.
_PAGE = (
    select(
        *(users.c[name] for name in UserSummary.model_fields),
        _COUNT.scalar_subquery().label("total"),
    )
    .order_by(users.c.user_id)
    .offset(bindparam("skip", type_=Integer))
    .limit(bindparam("limit", type_=Integer))
)


async def list_users(connection: ReadConnection, skip: int, limit: int) -> UserPage:
    rows = (await connection.execute(_PAGE, {"skip": skip, "limit": limit})).all()
    if rows:
        total = rows[0][-1]
    else:  # past the end: no row carries the total
        total = (await connection.execute(_COUNT)).scalar_one()
    fields = UserSummary.model_fields
    items = [UserSummary(**dict(zip(fields, row[:-1], strict=True))) for row in rows]
    return UserPage(
        items=items, total=total, skip=skip, limit=limit, has_more=skip + len(items) < total
    )
