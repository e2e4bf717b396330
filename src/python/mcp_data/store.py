"""The embedded store behind the reference API: one table per declared dataset (SQLAlchemy Core).

Tables are built from the catalog at start; each has the declared columns (NOT NULL) plus an
integer primary key `_row_id`, which orders query results. Dates are SQL DATEs bound as
`datetime.date` (asyncpg insists) and returned as ISO strings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    MetaData,
    Table,
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from mcp_common.database import ReadConnection
from mcp_data.catalog import CatalogError, ColumnType, DatasetCatalog, DatasetSpec
from mcp_data.demo import ROW_ID, demo_rows
from mcp_data.filters import Condition, compile_filters
from mcp_data.models import Cell, DatasetInfo, QueryResult

logger = logging.getLogger(__name__)

_SQL_TYPES: dict[ColumnType, type[TypeEngine[Any]]] = {
    "string": Text,
    "integer": BigInteger,
    "number": Double,
    "boolean": Boolean,
    "date": Date,
}


def _cell(column_type: ColumnType, value: Any) -> Cell:
    """A stored value as JSON sees it (drivers differ: SQLite has no DATE or BOOLEAN)."""
    if column_type == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if column_type == "number":
        return float(value)
    if column_type == "integer":
        return int(value)
    if column_type == "boolean":
        return bool(value)
    return str(value)


class DatasetStore:
    """The tables of every dataset in `catalog`, their demo data and the query over them."""

    def __init__(self, catalog: DatasetCatalog) -> None:
        self.catalog = catalog
        self.metadata = MetaData()
        self._tables: dict[str, Table] = {}
        for dataset in catalog.datasets:
            self._tables[dataset.name] = Table(
                dataset.name,
                self.metadata,
                Column(ROW_ID, BigInteger, primary_key=True, autoincrement=False),
                *(
                    Column(column.name, _SQL_TYPES[column.type], nullable=False)
                    for column in dataset.columns
                ),
            )

    def table(self, name: str) -> Table:
        return self._tables[name]

    def _check_columns(self, connection: Connection) -> None:
        """Fail fast when a table was created from another declaration of its dataset."""
        inspector = inspect(connection)
        for name, table in self._tables.items():
            found = [column["name"] for column in inspector.get_columns(name)]
            wanted = [column.name for column in table.columns]
            if sorted(found) != sorted(wanted):
                raise CatalogError(
                    f"table {name!r} in the database has columns {', '.join(found)} but the "
                    f"datasets file declares {', '.join(wanted)}; drop the table or point "
                    "database_url at a new database"
                )

    async def seed(self, connection: AsyncConnection) -> None:
        """Check the tables match the catalog and fill empty ones with demo rows.

        Raises:
            CatalogError: when a table's columns differ from the dataset's declaration.
        """
        await connection.run_sync(self._check_columns)
        for dataset in self.catalog.datasets:
            table = self._tables[dataset.name]
            count = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            if count == 0 and dataset.demo_rows > 0:
                await connection.execute(table.insert(), demo_rows(dataset))
                logger.info("seeded %d demo rows into %s", dataset.demo_rows, dataset.name)

    def describe(self) -> list[DatasetInfo]:
        return [DatasetInfo.of(dataset) for dataset in self.catalog.datasets]

    async def query(
        self,
        connection: ReadConnection,
        dataset: DatasetSpec,
        conditions: Sequence[Condition],
        limit: int,
    ) -> QueryResult:
        """The first `limit` rows of `dataset` matching every condition, in `_row_id` order."""
        table = self._tables[dataset.name]
        statement = (
            select(*(table.c[column.name] for column in dataset.columns))
            .where(*compile_filters(table, conditions))
            .order_by(table.c[ROW_ID])
            .limit(limit + 1)
        )
        found = (await connection.execute(statement)).all()
        rows = [
            {
                column.name: _cell(column.type, value)
                for column, value in zip(dataset.columns, row, strict=True)
            }
            for row in found[:limit]
        ]
        return QueryResult(
            dataset=dataset.name,
            columns=DatasetInfo.of(dataset).columns,
            rows=rows,
            row_count=len(rows),
            truncated=len(found) > limit,
        )
