"""Deterministic demo rows for a declared dataset: the same rows on every machine and replica.

Each dataset draws from its own `random.Random` seeded with its name (string seeds hash the
same in every process), and each row has a fixed primary key (`ROW_ID`, 1..demo_rows), so two
replicas seeding one database at once insert identical keys and the second one fails cleanly.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from mcp_data.catalog import ColumnSpec, DatasetSpec

ROW_ID = "_row_id"
"""The primary key column of every dataset table; declared names cannot start with `_`."""

DEMO_START = date(2024, 1, 1)
_DEFAULT_RANGE = (0.0, 1000.0)

Row = dict[str, object]


def _value(
    column: ColumnSpec, rng: random.Random, time_axis: bool, index: int, total: int
) -> object:
    if column.type == "string":
        if column.demo_pattern:
            return column.demo_pattern.format(row=index + 1)
        if column.demo_values:
            return rng.choice(column.demo_values)
        return f"{column.name}-{rng.randint(1, 10)}"
    if column.type == "integer":
        low, high = column.demo_range or _DEFAULT_RANGE
        return rng.randint(int(low), int(high))
    if column.type == "number":
        low, high = column.demo_range or _DEFAULT_RANGE
        return round(rng.uniform(low, high), 2)
    if column.type == "boolean":
        return rng.random() < 0.5
    if time_axis:
        # The first date column runs through 2024 with the row id, like a time series.
        return DEMO_START + timedelta(days=index * 366 // max(total, 1))
    return DEMO_START + timedelta(days=rng.randrange(366))


def demo_rows(dataset: DatasetSpec) -> list[Row]:
    """`dataset.demo_rows` rows keyed by `ROW_ID` 1..n, as Python values (dates as `date`)."""
    rng = random.Random(f"mcp-data:{dataset.name}")
    first_date = next((c.name for c in dataset.columns if c.type == "date"), None)
    total = dataset.demo_rows
    rows: list[Row] = []
    for index in range(total):
        row: Row = {ROW_ID: index + 1}
        for column in dataset.columns:
            row[column.name] = _value(column, rng, column.name == first_date, index, total)
        rows.append(row)
    return rows
