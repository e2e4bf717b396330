"""The data domain's contract: tool input and output, which are also the REST API's bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from mcp_data.catalog import ColumnType, DatasetSpec
from mcp_data.filters import filters_json_schema

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

# Checked against the dataset's columns by `mcp_data.filters`, whose messages name what is
# allowed; the published schema still tells a client the exact shape.
FilterEntry = Annotated[Any, WithJsonSchema(filters_json_schema())]
Cell = str | int | float | bool

FILTERS_DESCRIPTION = (
    "Column name -> a value (equals) or an object of operators, all ANDed: eq, ne, "
    "lt, lte, gt, gte (integer, number, date columns), in (a list of 1 to 100 values), "
    "contains (string columns; case-insensitive substring). Dates are 'YYYY-MM-DD'. "
    'Shape: {"<column>": "value", "<column>": {"gte": 10, "lt": 50}}.'
)


class ColumnInfo(BaseModel):
    name: str
    type: ColumnType = Field(description="string, integer, number, boolean or date (YYYY-MM-DD).")
    description: str = ""


class DatasetInfo(BaseModel):
    name: str
    description: str
    columns: list[ColumnInfo]

    @classmethod
    def of(cls, dataset: DatasetSpec) -> DatasetInfo:
        columns = [
            ColumnInfo(name=c.name, type=c.type, description=c.description) for c in dataset.columns
        ]
        return cls(name=dataset.name, description=dataset.description, columns=columns)


class DatasetList(BaseModel):
    datasets: list[DatasetInfo]


class QueryRequest(BaseModel):
    """The body of `POST /datasets/{name}/query`."""

    model_config = ConfigDict(extra="forbid")

    filters: dict[str, FilterEntry] = Field(default_factory=dict, description=FILTERS_DESCRIPTION)
    limit: int = Field(
        default=DEFAULT_LIMIT,
        ge=1,
        le=MAX_LIMIT,
        description=f"Most rows to return, 1 to {MAX_LIMIT}.",
    )


class QueryDataInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        min_length=1,
        max_length=63,
        description="Name of the dataset; the tool description lists them with their columns.",
    )
    filters: dict[str, FilterEntry] = Field(default_factory=dict, description=FILTERS_DESCRIPTION)
    limit: int = Field(
        default=DEFAULT_LIMIT,
        ge=1,
        le=MAX_LIMIT,
        description=f"Most rows to return, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    )


class QueryResult(BaseModel):
    dataset: str
    columns: list[ColumnInfo] = Field(description="The dataset's columns, in order.")
    rows: list[dict[str, Cell]] = Field(
        description="Matching rows in stored order: column -> value (dates as YYYY-MM-DD)."
    )
    row_count: int = Field(description="Rows returned.")
    truncated: bool = Field(
        description="True when more rows matched than limit; narrow the filters or raise limit."
    )
