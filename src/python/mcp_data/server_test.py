"""The data server started for real and driven by the real MCP client, in both protocol generations."""

from __future__ import annotations

import operator
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from mcp_common.errors import ReportedError
from mcp_data.app import build_app
from mcp_data.catalog import CatalogError
from mcp_data.settings import DataSettings
from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server_url(database_url: str) -> AsyncIterator[str]:
    settings = DataSettings(database_url=database_url, demo=True)
    async with serve(build_app(settings)) as url:
        yield url


_PYTHON_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "in": lambda cell, values: cell in values,
    "contains": lambda cell, part: part.lower() in cell.lower(),
}


def _keep(row: dict[str, Any], filters: dict[str, Any]) -> bool:
    """The filter language evaluated in Python (ISO dates order like the dates they name)."""
    for column, spec in filters.items():
        operators = spec if isinstance(spec, dict) else {"eq": spec}
        for name, value in operators.items():
            if not _PYTHON_OPS[name](row[column], value):
                return False
    return True


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_lists_exactly_query_data_with_its_schemas_and_hints(
    server_url: str, mode: str
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"query_data"}
    tool = tools["query_data"]
    schema = tool.input_schema
    assert schema["required"] == ["dataset"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["limit"]["maximum"] == 1000
    assert schema["properties"]["limit"]["minimum"] == 1
    assert schema["properties"]["limit"]["default"] == 100
    entry = schema["properties"]["filters"]["additionalProperties"]["anyOf"][1]
    assert sorted(entry["properties"]) == sorted(
        ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains"]
    )
    assert tool.output_schema is not None
    assert {"dataset", "columns", "rows", "row_count", "truncated"} <= set(
        tool.output_schema["properties"]
    )
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True
    assert tool.annotations.idempotent_hint is True
    assert tool.description is not None
    assert "- sales: " in tool.description
    assert "units (integer)" in tool.description
    assert "- web_traffic: " in tool.description
    assert "contains" in tool.description


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_an_unfiltered_query_returns_the_first_rows_and_says_it_truncated(
    server_url: str, mode: str
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        default = await client.call_tool("query_data", {"dataset": "sales"})
        everything = await client.call_tool("query_data", {"dataset": "sales", "limit": 1000})
    assert not default.is_error
    assert default.structured_content is not None
    body = default.structured_content
    assert body["dataset"] == "sales"
    assert [c["name"] for c in body["columns"]] == ["day", "region", "product", "units", "revenue"]
    assert body["row_count"] == len(body["rows"]) == 100
    assert body["truncated"] is True
    assert set(body["rows"][0]) == {"day", "region", "product", "units", "revenue"}
    assert everything.structured_content is not None
    assert everything.structured_content["row_count"] == 400
    assert everything.structured_content["truncated"] is False
    assert everything.structured_content["rows"][:100] == body["rows"]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_reference_examples_query_users_and_tickets(server_url: str, mode: str) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        users = await client.call_tool(
            "query_data",
            {"dataset": "users", "filters": {"department": "Engineering"}, "limit": 1000},
        )
        tickets = await client.call_tool(
            "query_data",
            {"dataset": "tickets", "filters": {"priority": "critical", "status": "open"}},
        )
    assert users.structured_content is not None, users.content
    people = users.structured_content["rows"]
    assert people, "the demo directory has engineers"
    assert {row["department"] for row in people} == {"Engineering"}
    # The same ids the directory's get_user_profile takes: u-0001 .. u-0042.
    assert {row["user_id"] for row in people} <= {f"u-{n:04d}" for n in range(1, 43)}
    assert tickets.structured_content is not None, tickets.content
    assert tickets.structured_content["rows"]
    for row in tickets.structured_content["rows"]:
        assert (row["priority"], row["status"]) == ("critical", "open")
        assert re.fullmatch(r"T-[0-9]{6}", row["ticket_id"])


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
@pytest.mark.parametrize(
    ("dataset", "filters"),
    [
        ("sales", {"region": {"in": ["EMEA", "APAC"]}, "units": {"gte": 10, "lt": 50}}),
        ("sales", {"product": "gizmo", "day": {"gte": "2024-03-01", "lt": "2024-07-01"}}),
        ("web_traffic", {"page": {"contains": "DOCS"}, "mobile": True, "visits": {"gt": 1000}}),
        ("web_traffic", {"bounce_rate": {"lte": 0.25}, "page": {"ne": "/"}}),
    ],
)
async def test_filtered_queries_return_the_rows_python_selects(
    server_url: str, mode: str, dataset: str, filters: dict[str, Any]
) -> None:
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        everything = await client.call_tool("query_data", {"dataset": dataset, "limit": 1000})
        filtered = await client.call_tool(
            "query_data", {"dataset": dataset, "filters": filters, "limit": 1000}
        )
    assert everything.structured_content is not None
    assert filtered.structured_content is not None, filtered.content
    expected = [row for row in everything.structured_content["rows"] if _keep(row, filters)]
    assert 0 < len(expected) < len(everything.structured_content["rows"])
    assert filtered.structured_content["rows"] == expected
    assert filtered.structured_content["row_count"] == len(expected)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_bad_queries_get_invalid_argument_naming_what_is_allowed(
    server_url: str, mode: str
) -> None:
    calls: list[tuple[dict[str, Any], str]] = [
        (
            {"dataset": "orders"},
            "unknown dataset 'orders'; known: sales, tickets, users, web_traffic",
        ),
        (
            {"dataset": "../health"},
            "unknown dataset '../health'; known: sales, tickets, users, web_traffic",
        ),
        (
            {"dataset": "sales", "filters": {"colour": "red"}},
            "unknown column 'colour' in dataset 'sales'; "
            "columns: day, region, product, units, revenue",
        ),
        (
            {"dataset": "sales", "filters": {"units": "ten"}},
            "column 'units' is integer; 'ten' is not an integer",
        ),
        (
            {"dataset": "sales", "filters": {"region": {"like": "EM%"}}},
            "unknown operator 'like' for column 'region'; allowed: eq, ne, in, contains",
        ),
        (
            {"dataset": "web_traffic", "filters": {"day": {"gte": "March 1st"}}},
            "column 'day' is date; 'March 1st' is not a date (YYYY-MM-DD)",
        ),
        ({"dataset": "sales", "limit": 5000}, "limit: Input should be less than or equal to 1000"),
        ({"dataset": "sales", "limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"dataset": "sales", "where": "1=1"}, "where: unknown argument"),
        ({"filters": {}}, "dataset: Field required"),
    ]
    async with Client(f"{server_url}/mcp", mode=mode) as client:
        results = [await client.call_tool("query_data", arguments) for arguments, _ in calls]
        still_fine = await client.call_tool(
            "query_data", {"dataset": "web_traffic", "filters": {"mobile": False}, "limit": 1}
        )
    for result, (arguments, message) in zip(results, calls, strict=True):
        error = tool_error(result)
        assert error.code == "invalid_argument", arguments
        assert message in error.message, (arguments, error)
    assert not still_fine.is_error
    assert still_fine.structured_content is not None
    assert still_fine.structured_content["rows"][0]["mobile"] is False


async def test_health_and_the_embedded_reference_api(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        ready = await http.get("/health/ready")
        openapi = await http.get("/api/openapi.json")
        catalog = await http.get("/api/datasets")
        unknown = await http.post("/api/datasets/orders/query", json={})
        too_many = await http.post("/api/datasets/sales/query", json={"limit": 1001})
        query = await http.post(
            "/api/datasets/sales/query", json={"filters": {"region": "LATAM"}, "limit": 2}
        )
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"ok": True}}
    assert "/datasets/{name}/query" in openapi.json()["paths"]
    assert [d["name"] for d in catalog.json()["datasets"]] == [
        "sales",
        "tickets",
        "users",
        "web_traffic",
    ]
    assert unknown.status_code == 400
    assert unknown.json() == {
        "detail": "unknown dataset 'orders'; known: sales, tickets, users, web_traffic"
    }
    assert too_many.status_code == 422
    assert query.status_code == 200
    assert [row["region"] for row in query.json()["rows"]] == ["LATAM", "LATAM"]


CUSTOM = """
datasets:
  - name: metrics
    description: Hourly latency of each service.
    demo_rows: 30
    columns:
      - {name: hour, type: date}
      - {name: service, type: string, demo_values: [api, web, worker]}
      - {name: latency_ms, type: number, demo_range: [1, 250]}
"""


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_datasets_file_from_the_environment_is_served(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(CUSTOM)
    monkeypatch.setenv("MCP_DATA_DATASETS_FILE", str(path))
    settings = DataSettings(database_url=database_url, demo=True)
    assert settings.datasets_file == str(path)
    async with serve(build_app(settings)) as url, Client(f"{url}/mcp", mode=mode) as client:
        [tool] = (await client.list_tools()).tools
        metrics = await client.call_tool(
            "query_data", {"dataset": "metrics", "filters": {"service": "worker"}}
        )
        sales = await client.call_tool("query_data", {"dataset": "sales"})
    assert tool.description is not None
    assert "- metrics: Hourly latency of each service." in tool.description
    assert "sales" not in tool.description
    assert metrics.structured_content is not None
    rows = metrics.structured_content["rows"]
    assert rows
    assert {row["service"] for row in rows} == {"worker"}
    assert tool_error(sales) == ReportedError(
        "invalid_argument", "unknown dataset 'sales'; known: metrics"
    )


def test_a_malformed_datasets_file_stops_the_server_before_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(CUSTOM.replace("type: number", "type: decimal"))
    settings = DataSettings(datasets_file=str(path), database_url="sqlite+aiosqlite://", demo=True)
    with pytest.raises(CatalogError) as caught:
        build_app(settings)
    assert str(caught.value) == (
        f"datasets file {path} is invalid: datasets[0] (metrics).columns[2] (latency_ms).type: "
        "Input should be 'string', 'integer', 'number', 'boolean' or 'date'"
    )


async def test_a_foreign_host_header_is_refused(server_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Host": "evil.example.com", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/mcp", json=body, headers=headers)
    assert response.status_code == 421
