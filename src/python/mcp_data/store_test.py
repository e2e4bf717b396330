"""The embedded store on SQLite and PostgreSQL: tables from the catalog, seeding, typed rows."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import func, select

from mcp_common.database import Database
from mcp_data.catalog import CatalogError, DatasetCatalog, load_catalog, parse_catalog
from mcp_data.filters import parse_filters
from mcp_data.store import DatasetStore

pytestmark = pytest.mark.anyio

CATALOG = load_catalog()


async def _counts(database: Database, store: DatasetStore) -> dict[str, int]:
    counts = {}
    async with database.engine.connect() as connection:
        for name in store.catalog.names:
            statement = select(func.count()).select_from(store.table(name))
            counts[name] = (await connection.execute(statement)).scalar_one()
    return counts


async def test_rows_come_back_with_json_types_in_row_id_order(database_url: str) -> None:
    store = DatasetStore(CATALOG)
    database = Database(database_url, store.metadata, store.seed)
    traffic = CATALOG.dataset("web_traffic")
    async with database.lifespan(), database.engine.connect() as connection:
        first = await store.query(connection, traffic, [], limit=3)
        everything = await store.query(connection, traffic, [], limit=1000)
    assert first.truncated is True
    assert first.row_count == 3
    assert first.rows == everything.rows[:3]
    assert everything.row_count == 300
    assert everything.truncated is False
    row = first.rows[0]
    assert row["day"] == "2024-01-01"
    assert {name: type(value) for name, value in row.items()} == {
        "day": str,
        "page": str,
        "visits": int,
        "bounce_rate": float,
        "mobile": bool,
    }
    days = [r["day"] for r in everything.rows]
    assert days == sorted(days)  # the first date column follows the row id


async def test_a_restart_keeps_the_same_rows_and_adds_none(database_url: str) -> None:
    store = DatasetStore(CATALOG)
    sales = CATALOG.dataset("sales")
    conditions = parse_filters(sales, {"region": "EMEA", "units": {"gte": 60}})
    results = []
    for _ in range(2):
        database = Database(database_url, store.metadata, store.seed)
        async with database.lifespan():
            assert await _counts(database, store) == {
                "sales": 400,
                "tickets": 300,
                "users": 42,
                "web_traffic": 300,
            }
            async with database.engine.connect() as connection:
                results.append(await store.query(connection, sales, conditions, limit=1000))
    assert results[0].row_count > 0
    assert results[0] == results[1]


async def test_replicas_seeding_together_insert_each_row_once(database_url: str) -> None:
    store = DatasetStore(CATALOG)
    replicas = [Database(database_url, store.metadata, store.seed) for _ in range(2)]
    counts: list[dict[str, int]] = []

    async def run(database: Database) -> None:
        async with database.lifespan():
            counts.append(await _counts(database, store))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for database in replicas:
                group.start_soon(run, database)
    assert counts == [{"sales": 400, "tickets": 300, "users": 42, "web_traffic": 300}] * 2


async def test_a_table_from_another_declaration_stops_the_start(database_url: str) -> None:
    before = DatasetStore(parse_catalog(_metrics("value: number"), "before"))
    async with Database(database_url, before.metadata, before.seed).lifespan():
        pass
    after = DatasetStore(parse_catalog(_metrics("reading: number"), "after"))
    with pytest.raises(CatalogError) as caught:
        async with Database(database_url, after.metadata, after.seed).lifespan():
            pass
    assert str(caught.value) == (
        "table 'metrics' in the database has columns _row_id, service, value but the datasets "
        "file declares _row_id, service, reading; drop the table or point database_url at a "
        "new database"
    )


def _metrics(last_column: str) -> str:
    name, kind = last_column.split(": ")
    return (
        "datasets:\n"
        "  - name: metrics\n"
        "    description: Service metrics.\n"
        "    demo_rows: 5\n"
        "    columns:\n"
        "      - {name: service, type: string}\n"
        f"      - {{name: {name}, type: {kind}}}\n"
    )


def test_every_dataset_gets_a_table_with_its_columns_and_a_row_id() -> None:
    store = DatasetStore(DatasetCatalog(datasets=CATALOG.datasets))
    assert sorted(store.metadata.tables) == ["sales", "tickets", "users", "web_traffic"]
    sales = store.table("sales")
    assert [c.name for c in sales.columns] == [
        "_row_id",
        "day",
        "region",
        "product",
        "units",
        "revenue",
    ]
    assert [c.name for c in sales.primary_key] == ["_row_id"]
    assert not any(c.nullable for c in sales.columns)
