"""The filter language: parsing, type rules, error messages, and SQL that agrees with Python."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement

from mcp_common.database import Database
from mcp_common.errors import InvalidArgument
from mcp_data.catalog import ColumnSpec, DatasetCatalog, DatasetSpec
from mcp_data.demo import ROW_ID, demo_rows
from mcp_data.filters import (
    MAX_IN_VALUES,
    OPERATORS_BY_TYPE,
    Condition,
    compile_filters,
    parse_filters,
)
from mcp_data.store import DatasetStore

SAMPLE = DatasetSpec.model_validate(
    {
        "name": "sample",
        "description": "Rows to test filters on.",
        "demo_rows": 80,
        "columns": [
            {
                "name": "label",
                "type": "string",
                "demo_values": ["Docs", "docs/api", "50%_off", "a_b", "plain", "ab"],
            },
            {"name": "qty", "type": "integer", "demo_range": [-5, 20]},
            {"name": "price", "type": "number", "demo_range": [0, 10]},
            {"name": "active", "type": "boolean"},
            {"name": "day", "type": "date"},
            {"name": "since", "type": "date"},
        ],
    }
)
STORE = DatasetStore(DatasetCatalog(datasets=(SAMPLE,)))
TABLE = STORE.table("sample")


def _message(filters: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_filters(SAMPLE, filters)
    return str(caught.value)


def _dialect(url: str) -> Dialect:
    return make_url(url).get_dialect()()


def _sql(clause: ClauseElement, dialect: Dialect | None = None) -> tuple[str, dict[str, Any]]:
    compiled = clause.compile(dialect=dialect or _dialect("sqlite+aiosqlite://"))
    return str(compiled), dict(compiled.params)


def test_a_bare_value_means_eq_and_is_parsed_to_the_columns_type() -> None:
    conditions = parse_filters(
        SAMPLE,
        {"label": "Docs", "qty": 3, "price": 2, "active": False, "day": "2024-02-29"},
    )
    assert conditions == [
        Condition("label", "eq", "Docs"),
        Condition("qty", "eq", 3),
        Condition("price", "eq", 2.0),
        Condition("active", "eq", False),
        Condition("day", "eq", date(2024, 2, 29)),
    ]
    assert isinstance(conditions[2].value, float)


def test_several_operators_on_one_column_are_separate_anded_conditions() -> None:
    conditions = parse_filters(
        SAMPLE, {"qty": {"gte": 10, "lt": 50}, "label": {"in": ["a_b", "ab"]}}
    )
    assert conditions == [
        Condition("qty", "gte", 10),
        Condition("qty", "lt", 50),
        Condition("label", "in", ("a_b", "ab")),
    ]
    clauses = compile_filters(TABLE, conditions)
    assert [_sql(c)[0] for c in clauses] == [
        "sample.qty >= ?",
        "sample.qty < ?",
        "sample.label IN (__[POSTCOMPILE_label_1])",
    ]


@pytest.mark.parametrize(
    ("operator", "sql"),
    [
        ("eq", "sample.day = ?"),
        ("ne", "sample.day != ?"),
        ("lt", "sample.day < ?"),
        ("lte", "sample.day <= ?"),
        ("gt", "sample.day > ?"),
        ("gte", "sample.day >= ?"),
    ],
)
def test_comparison_operators_compile_to_bound_parameters(operator: str, sql: str) -> None:
    [clause] = compile_filters(TABLE, parse_filters(SAMPLE, {"day": {operator: "2024-03-01"}}))
    text, params = _sql(clause)
    assert text == sql
    assert list(params.values()) == [date(2024, 3, 1)]


def test_values_never_reach_the_sql_text() -> None:
    hostile = "x' OR '1'='1"
    clauses = compile_filters(
        TABLE, parse_filters(SAMPLE, {"label": {"eq": hostile, "contains": hostile}})
    )
    for clause in clauses:
        text, params = _sql(clause)
        assert "OR" not in text
        assert any(hostile in str(value) for value in params.values())


def test_contains_is_a_case_insensitive_like_with_wildcards_escaped() -> None:
    [clause] = compile_filters(TABLE, parse_filters(SAMPLE, {"label": {"contains": "50%_off"}}))
    text, params = _sql(clause)
    assert text == "lower(sample.label) LIKE '%' || lower(?) || '%' ESCAPE '/'"
    assert list(params.values()) == ["50/%/_off"]
    pg_text, _ = _sql(clause, _dialect("postgresql+asyncpg://"))
    assert "ILIKE" in pg_text


def test_in_takes_a_typed_list_and_compiles_to_in() -> None:
    [condition] = parse_filters(SAMPLE, {"active": {"in": [True]}})
    assert condition == Condition("active", "in", (True,))
    [many] = parse_filters(SAMPLE, {"qty": {"in": list(range(MAX_IN_VALUES))}})
    assert many.value == tuple(range(MAX_IN_VALUES))
    [clause] = compile_filters(TABLE, [many])
    text, params = _sql(clause)
    assert text == "sample.qty IN (__[POSTCOMPILE_qty_1])"
    assert params == {"qty_1": list(range(MAX_IN_VALUES))}


def test_no_filters_mean_no_conditions() -> None:
    assert parse_filters(SAMPLE, {}) == []
    assert compile_filters(TABLE, []) == []


def test_unknown_column_names_the_dataset_and_its_columns() -> None:
    assert _message({"colour": "red"}) == (
        "unknown column 'colour' in dataset 'sample'; columns: label, qty, price, active, day, since"
    )


def test_unknown_operator_names_the_operators_of_the_columns_type() -> None:
    assert _message({"label": {"like": "d%"}}) == (
        "unknown operator 'like' for column 'label'; allowed: eq, ne, in, contains"
    )
    assert _message({"qty": {"between": [1, 2]}}) == (
        "unknown operator 'between' for column 'qty'; allowed: eq, ne, lt, lte, gt, gte, in"
    )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"qty": {"contains": "1"}},
            "operator 'contains' does not apply to column 'qty' (integer); "
            "allowed: eq, ne, lt, lte, gt, gte, in",
        ),
        (
            {"label": {"lt": "m"}},
            "operator 'lt' does not apply to column 'label' (string); allowed: eq, ne, in, contains",
        ),
        (
            {"active": {"gte": True}},
            "operator 'gte' does not apply to column 'active' (boolean); allowed: eq, ne, in",
        ),
    ],
)
def test_operators_that_do_not_fit_the_type_are_refused(
    filters: dict[str, Any], message: str
) -> None:
    assert _message(filters) == message


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"qty": "ten"}, "column 'qty' is integer; 'ten' is not an integer"),
        ({"qty": 2.5}, "column 'qty' is integer; 2.5 is not an integer"),
        ({"qty": True}, "column 'qty' is integer; true is not an integer"),
        ({"qty": None}, "column 'qty' is integer; null is not an integer"),
        ({"qty": 2**63}, "column 'qty' is integer; 9223372036854775808 is not a 64-bit integer"),
        ({"price": "1.5"}, "column 'price' is number; '1.5' is not a number"),
        ({"price": False}, "column 'price' is number; false is not a number"),
        ({"price": float("inf")}, "column 'price' is number; Infinity is not a finite number"),
        ({"price": 10**400}, "is not a finite number"),
        ({"active": "yes"}, "column 'active' is boolean; 'yes' is not a boolean (true or false)"),
        ({"active": 1}, "column 'active' is boolean; 1 is not a boolean (true or false)"),
        ({"day": "2024/01/01"}, "column 'day' is date; '2024/01/01' is not a date (YYYY-MM-DD)"),
        ({"day": "2024-02-30"}, "column 'day' is date; '2024-02-30' is not a date (YYYY-MM-DD)"),
        ({"day": "20240101"}, "column 'day' is date; '20240101' is not a date (YYYY-MM-DD)"),
        ({"day": 20240101}, "column 'day' is date; 20240101 is not a date (YYYY-MM-DD)"),
        ({"label": 5}, "column 'label' is string; 5 is not a string"),
        ({"label": {"contains": ["a"]}}, "column 'label' is string; [\"a\"] is not a string"),
        ({"label": "x" * 1001}, "filter values are at most 1000 characters, without NUL"),
        ({"label": "a\x00b"}, "filter values are at most 1000 characters, without NUL"),
        ({"qty": {"in": [1, "2"]}}, "column 'qty' is integer; '2' is not an integer"),
    ],
)
def test_values_of_the_wrong_type_name_the_columns_type(
    filters: dict[str, Any], message: str
) -> None:
    assert message in _message(filters)


@pytest.mark.parametrize("value", [[], "a_b", list(range(MAX_IN_VALUES + 1)), {"x": 1}])
def test_in_needs_a_list_of_one_to_a_hundred_values(value: object) -> None:
    assert _message({"label": {"in": value}}) == (
        "operator 'in' for column 'label' takes a list of 1 to 100 string values"
    )


def test_shapes_that_are_not_a_value_or_operators_are_explained() -> None:
    assert _message({"qty": {}}) == (
        "filter for column 'qty' has no operator; allowed: eq, ne, lt, lte, gt, gte, in"
    )
    assert _message({"label": ["a", "b"]}) == (
        "filter for column 'label' is a list; to match any of several values write {\"in\": [...]}"
    )


# --- SQL and Python agree -------------------------------------------------------------------

ROWS: list[dict[str, Any]] = demo_rows(SAMPLE)
COLUMN_NAMES = SAMPLE.column_names
PYTHON_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda cell, value: bool(cell == value),
    "ne": lambda cell, value: bool(cell != value),
    "lt": lambda cell, value: bool(cell < value),
    "lte": lambda cell, value: bool(cell <= value),
    "gt": lambda cell, value: bool(cell > value),
    "gte": lambda cell, value: bool(cell >= value),
    "in": lambda cell, values: cell in values,
    "contains": lambda cell, value: value.lower() in cell.lower(),
}


def _values_of(column: ColumnSpec) -> st.SearchStrategy[Any]:
    """JSON values of the column's type: mostly ones in the data, some arbitrary."""
    present = sorted({row[column.name] for row in ROWS}, key=str)
    if column.type == "date":
        present_iso = [value.isoformat() for value in present]
        return st.sampled_from(present_iso) | st.dates(date(2023, 12, 1), date(2025, 1, 31)).map(
            date.isoformat
        )
    arbitrary: st.SearchStrategy[Any] = {
        "string": st.text(alphabet="abdocsDOC%_/ ", max_size=4),
        "integer": st.integers(-10, 30),
        "number": st.floats(-1, 11, allow_nan=False) | st.integers(-1, 11),
        "boolean": st.booleans(),
    }[column.type]
    return st.sampled_from(present) | arbitrary


@st.composite
def _filter_for(draw: st.DrawFn, column: ColumnSpec) -> Any:
    values = _values_of(column)
    operators = draw(
        st.lists(
            st.sampled_from(OPERATORS_BY_TYPE[column.type]), min_size=1, max_size=2, unique=True
        )
    )
    spec: dict[str, Any] = {}
    for operator in operators:
        if operator == "in":
            spec["in"] = draw(st.lists(values, min_size=1, max_size=4))
        elif operator == "contains":
            spec["contains"] = draw(
                st.sampled_from(["doc", "DOC", "%", "_", "a_b", "/", "0%"]) | values
            )
        else:
            spec[operator] = draw(values)
    if list(spec) == ["eq"] and draw(st.booleans()):
        return spec["eq"]  # the bare-value shorthand
    return spec


@st.composite
def _filters(draw: st.DrawFn) -> dict[str, Any]:
    columns = draw(
        st.lists(st.sampled_from(SAMPLE.columns), max_size=3, unique_by=lambda c: c.name)
    )
    return {column.name: draw(_filter_for(column)) for column in columns}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _matches(row: dict[str, Any], conditions: list[Condition]) -> bool:
    return all(PYTHON_OPS[c.operator](row[c.column], c.value) for c in conditions)


@pytest.fixture
async def sample_database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, STORE.metadata, STORE.seed)
    async with database.lifespan():
        yield database


@pytest.mark.anyio
@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filters=_filters())
async def test_compiled_sql_returns_exactly_the_rows_python_selects(
    sample_database: Database, filters: dict[str, Any]
) -> None:
    conditions = parse_filters(SAMPLE, filters)
    expected = [
        {name: _json(row[name]) for name in COLUMN_NAMES}
        for row in ROWS
        if _matches(row, conditions)
    ]
    async with sample_database.engine.connect() as connection:
        result = await STORE.query(connection, SAMPLE, conditions, limit=1000)
    assert result.rows == expected
    assert result.truncated is False


def test_the_sample_data_is_varied_enough_for_the_property_test() -> None:
    # Guards the property test above: filters that select nothing would prove nothing.
    assert {row["label"] for row in ROWS} == {"Docs", "docs/api", "50%_off", "a_b", "plain", "ab"}
    assert len({row["active"] for row in ROWS}) == 2
    assert len({row["day"] for row in ROWS}) > 40
    assert sorted(row[ROW_ID] for row in ROWS) == list(range(1, 81))
