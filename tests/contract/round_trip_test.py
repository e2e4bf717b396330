"""Round trips between tools: what one tool says, the others agree with.

- a ticket `create_ticket` opened is then listed by `list_tickets`, field for field;
- `get_user_profile` returns, for every user `list_users` pages through, the same summary;
- `query_data` with filters returns exactly the unfiltered rows filtered here, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from contract.conftest import ToolCaller
from contract.strategies import listed_datasets, valid_arguments
from mcp_testkit.testing import tool_error

Row = dict[str, Any]
Test = Callable[[Any, Any], bool]

ROUND_TRIP_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What each operator means, as the data server documents it (mcp_data/filters.py).
_OPERATORS: dict[str, Test] = {
    "eq": lambda value, wanted: value == wanted,
    "ne": lambda value, wanted: value != wanted,
    "lt": lambda value, wanted: value < wanted,
    "lte": lambda value, wanted: value <= wanted,
    "gt": lambda value, wanted: value > wanted,
    "gte": lambda value, wanted: value >= wanted,
    "in": lambda value, wanted: value in wanted,
    "contains": lambda value, wanted: wanted.lower() in value.lower(),
}
_OPERATORS_BY_TYPE = {
    "string": ("eq", "ne", "in", "contains"),
    "integer": ("eq", "ne", "lt", "lte", "gt", "gte", "in"),
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "in"),
    "date": ("eq", "ne", "lt", "lte", "gt", "gte", "in"),
    "boolean": ("eq", "ne", "in"),
}


def _ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    structured: dict[str, Any] = result.structured_content
    return structured


@ROUND_TRIP_SETTINGS
@given(data=st.data())
def test_a_created_ticket_is_then_listed(
    client: ToolCaller, live_tools: dict[str, Any], data: st.DataObject
) -> None:
    schema = live_tools["create_ticket"].input_schema
    draft = data.draw(valid_arguments(schema), label="arguments")
    draft.pop("idempotency_key", None)  # a reused key would return an earlier ticket
    result = client.call_tool("create_ticket", draft)
    if result.is_error:  # e.g. a blank title, which the schema cannot say is refused
        assert tool_error(result).code == "invalid_argument"
        return
    created = _ok(result)
    assert created["status"] == "open"
    listed = _ok(client.call_tool("list_tickets", {"status": "open", "limit": 100}))
    by_id = {ticket["ticket_id"]: ticket for ticket in listed["items"]}
    assert by_id.get(created["ticket_id"]) == created
    assert listed["items"][0]["ticket_id"] == created["ticket_id"], "newest first"


def _all_users(client: ToolCaller) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    page: dict[str, Any] = {"has_more": True}
    while page["has_more"]:
        page = _ok(client.call_tool("list_users", {"skip": len(users), "limit": 100}))
        users.extend(page["items"])
        assert len(users) <= page["total"]
    assert len(users) == page["total"]
    return users


def test_every_listed_user_has_the_same_profile(client: ToolCaller) -> None:
    users = _all_users(client)
    assert users, "the directory is empty"
    assert [user["user_id"] for user in users] == sorted(user["user_id"] for user in users)
    for user in users:
        profile = _ok(client.call_tool("get_user_profile", {"user_id": user["user_id"]}))
        assert profile == {**user, "details": None}
        detailed = _ok(
            client.call_tool(
                "get_user_profile", {"user_id": user["user_id"], "include_details": True}
            )
        )
        assert {key: value for key, value in detailed.items() if key != "details"} == user
        assert detailed["details"] is not None


@pytest.fixture(scope="session")
def datasets(client: ToolCaller, live_tools: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every dataset query_data's description lists, with all its rows (unfiltered)."""
    names = listed_datasets(live_tools["query_data"].description)
    assert names, "query_data's description lists no datasets ('- name: ...' lines)"
    found = {}
    for name in names:
        everything = _ok(client.call_tool("query_data", {"dataset": name, "limit": 1000}))
        assert not everything["truncated"], f"{name} has more rows than one query returns"
        found[name] = everything
    return found


def _condition(column: Mapping[str, Any], values: list[Any]) -> st.SearchStrategy[Any]:
    """A filter entry for `column` (a bare value, or 1-2 operators) from the values it holds."""
    value = st.sampled_from(values)
    operators = _OPERATORS_BY_TYPE[column["type"]]

    def operand(operator: str) -> st.SearchStrategy[Any]:
        if operator == "in":
            return st.lists(value, min_size=1, max_size=4)
        if operator == "contains":
            return value.flatmap(
                lambda text: st.tuples(
                    st.integers(0, len(text)), st.integers(0, len(text)), st.booleans()
                ).map(lambda cut: _cut(text, *cut))
            )
        return value

    spec = st.dictionaries(st.sampled_from(operators), st.just(None), min_size=1, max_size=2)
    with_operands = spec.flatmap(
        lambda chosen: st.fixed_dictionaries({op: operand(op) for op in chosen})
    )
    return value | with_operands


def _cut(text: str, start: int, end: int, upper: bool) -> str:
    low, high = sorted((start, end))
    piece = text[low:high]
    return piece.upper() if upper else piece


def _matches(row: Row, filters: Mapping[str, Any]) -> bool:
    for column, spec in filters.items():
        conditions = spec if isinstance(spec, Mapping) else {"eq": spec}
        for operator, wanted in conditions.items():
            if not _OPERATORS[operator](row[column], wanted):
                return False
    return True


@ROUND_TRIP_SETTINGS
@given(data=st.data())
def test_query_data_filters_agree_with_filtering_the_unfiltered_rows(
    client: ToolCaller, datasets: dict[str, dict[str, Any]], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(datasets)), label="dataset")
    everything = datasets[name]
    columns = {column["name"]: column for column in everything["columns"]}
    chosen = data.draw(
        st.lists(st.sampled_from(sorted(columns)), min_size=1, max_size=3, unique=True),
        label="columns",
    )
    filters = {
        column: data.draw(
            _condition(columns[column], [row[column] for row in everything["rows"]]),
            label=column,
        )
        for column in chosen
    }
    answer = _ok(
        client.call_tool("query_data", {"dataset": name, "filters": filters, "limit": 1000})
    )
    expected = [row for row in everything["rows"] if _matches(row, filters)]
    event(
        "rows: " + ("none" if not expected else "all" if expected == everything["rows"] else "some")
    )
    assert answer["rows"] == expected
    assert answer["row_count"] == len(expected)
    assert answer["truncated"] is False
