"""The embedded store behind the reference API: one table per declared dataset (SQLAlchemy Core).

Tables are built from the catalog at start; each has the declared columns (NOT NULL) plus an
integer primary key `_row_id`, which orders query results. Dates are SQL DATEs bound as
`datetime.date` (asyncpg insists) and returned as ISO strings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    MetaData,
    Select,
    Table,
    Text,
    bindparam,
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
from mcp_data.models import Cell, ColumnInfo, DatasetInfo, QueryResult

logger = logging.getLogger(__name__)

_SQL_TYPES: dict[ColumnType, type[TypeEngine[Any]]] = {
    "string": Text,
    "integer": BigInteger,
    "number": Double,
    "boolean": Boolean,
    "date": Date,
}


def _date_cell(value: Any) -> Cell:
    return value.isoformat() if isinstance(value, date) else str(value)


# A stored value as JSON sees it, by column type (drivers differ: SQLite has no DATE or BOOLEAN).
_CELL: dict[ColumnType, Callable[[Any], Cell]] = {
    "date": _date_cell,
    "number": float,
    "integer": int,
    "boolean": bool,
    "string": str,
}


@dataclass(frozen=True)
class _Reading:
    """What every query of one dataset shares, built once: the statement without filters
    (its limit a bound parameter), how each column's values read back, the columns' info."""

    statement: Select[Any]
    names: tuple[str, ...]
    cells: tuple[Callable[[Any], Cell], ...]
    columns: list[ColumnInfo]


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
        self._readings = {
            dataset.name: self._reading(dataset, self._tables[dataset.name])
            for dataset in catalog.datasets
        }

    @staticmethod
    def _reading(dataset: DatasetSpec, table: Table) -> _Reading:
        statement = (
            select(*(table.c[column.name] for column in dataset.columns))
            .order_by(table.c[ROW_ID])
            .limit(bindparam("limit", type_=BigInteger))
        )
        return _Reading(
            statement=statement,
            names=tuple(column.name for column in dataset.columns),
            cells=tuple(_CELL[column.type] for column in dataset.columns),
            columns=DatasetInfo.of(dataset).columns,
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
        reading = self._readings[dataset.name]
        statement = reading.statement
        if conditions:
            statement = statement.where(*compile_filters(self._tables[dataset.name], conditions))
        found = (await connection.execute(statement, {"limit": limit + 1})).all()
        names, cells = reading.names, reading.cells
        rows = [
            dict(
                zip(
                    names,
                    [cell(value) for cell, value in zip(cells, row, strict=True)],
                    strict=False,
                )
            )
            for row in found[:limit]
        ]
        return QueryResult(
            dataset=dataset.name,
            columns=reading.columns,
            rows=rows,
            row_count=len(rows),
            truncated=len(found) > limit,
        )
