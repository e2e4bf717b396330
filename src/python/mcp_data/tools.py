"""The data tool, `query_data`, over the datasets (their REST API, or the embedded ones).

The catalog the server loaded describes the datasets in the tool's description; the API (the
embedded one, or a real backend serving the same catalog) checks every query and names what
is allowed when it refuses one.
"""

from __future__ import annotations

import json

from mcp_common.caller import end_user
from mcp_common.tools import ToolSpec
from mcp_data.backend import Datasets
from mcp_data.catalog import DatasetCatalog, DatasetSpec, is_valid_name
from mcp_data.models import DEFAULT_LIMIT, MAX_LIMIT, QueryDataInput, QueryResult


def describe_datasets(catalog: DatasetCatalog) -> str:
    """One line per dataset: name, what a row is, and its typed columns."""
    lines = []
    for dataset in catalog.datasets:
        columns = ", ".join(f"{column.name} ({column.type})" for column in dataset.columns)
        needs = f" Needs one of the roles: {', '.join(dataset.roles)}." if dataset.roles else ""
        lines.append(f"- {dataset.name}: {dataset.description} Columns: {columns}.{needs}")
    return "\n".join(lines)


def example_query(dataset: DatasetSpec) -> str:
    """A valid call on `dataset`, one condition per column type (up to three)."""
    filters: dict[str, object] = {}
    used: set[str] = set()
    for column in dataset.columns:
        if column.type in used or len(filters) == 3:
            continue
        used.add(column.type)
        if column.type == "string":
            filters[column.name] = column.demo_values[0] if column.demo_values else "some text"
        elif column.type == "date":
            filters[column.name] = {"gte": "2024-03-01", "lt": "2024-04-01"}
        elif column.type == "boolean":
            filters[column.name] = True
        else:
            filters[column.name] = {"gte": 10}
    return f"dataset={dataset.name!r}, filters={json.dumps(filters)}"


def query_data_description(catalog: DatasetCatalog) -> str:
    return (
        "Query one analytics dataset and get back the rows that match every filter, in stored "
        f"order, at most `limit` rows (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}); "
        "truncated=true means more rows matched, so narrow the filters or raise limit.\n"
        f"Datasets:\n{describe_datasets(catalog)}\n"
        "filters maps a column to a value (equals) or to an object of operators; all conditions "
        "are ANDed. Operators: eq, ne; lt, lte, gt, gte (integer, number and date columns "
        "only); in (a list of 1 to 100 values); contains (string columns only, "
        "case-insensitive substring). Values must have the column's type: strings, integers, "
        "numbers, true/false, dates as 'YYYY-MM-DD'. "
        f"Example: {example_query(catalog.datasets[0])}. An unknown dataset or column, or a "
        "value of the wrong type, fails with invalid_argument naming what is allowed."
    )


def build_tools(
    datasets: Datasets, catalog: DatasetCatalog
) -> list[ToolSpec[QueryDataInput, QueryResult]]:
    async def query_data(args: QueryDataInput) -> QueryResult:
        # Only a valid identifier can name a dataset; anything else would not be a plain
        # path segment, so it is refused here with the same message the API gives.
        if not is_valid_name(args.dataset):
            raise catalog.unknown_dataset(args.dataset)
        user = end_user()
        if user is not None:
            spec = catalog.get(args.dataset)
            if spec is not None:  # one this catalog does not know is the backend's to refuse
                spec.check_access(user.roles)
        return await datasets.query(args.dataset, args.filters, args.limit)

    return [
        ToolSpec(
            name="query_data",
            title="Query data",
            description=query_data_description(catalog),
            input_model=QueryDataInput,
            output_model=QueryResult,
            handler=query_data,
            read_only=True,
            idempotent=True,
        )
    ]
