"""The filter language of `query_data`: parse, check against the declared columns, compile.

`filters` maps a column name to a bare value (shorthand for `eq`) or to an object of one or
more operators; every condition is ANDed:

    {"region": "EMEA", "units": {"gte": 10, "lt": 50}, "product": {"in": ["gizmo", "widget"]}}

| operator             | column types                    | value                              |
| -------------------- | ------------------------------- | ---------------------------------- |
| eq, ne               | all                             | one value of the column's type     |
| lt, lte, gt, gte     | integer, number, date           | one value of the column's type     |
| in                   | all                             | a list of 1 to 100 such values     |
| contains             | string                          | a substring, case-insensitive      |

Strings have no ordering operators: SQLite and PostgreSQL collate text differently, and a
filter must mean the same on both. `contains` folds ASCII letters only (SQLite's LIKE does
not fold other letters); `%` and `_` in its value are literal characters.

Values: string (a JSON string), integer (a JSON integer, not a boolean, within 64 bits),
number (any JSON number, finite), boolean (true or false), date (a "YYYY-MM-DD" string).

Parsing yields `Condition`s with Python values (`datetime.date` for dates) that compile to
SQLAlchemy expressions with bound parameters; no value is ever spliced into SQL text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Table

from mcp_common.errors import InvalidArgument
from mcp_data.catalog import ColumnSpec, ColumnType, DatasetSpec

Operator = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains"]
OPERATORS: tuple[Operator, ...] = get_args(Operator)

_COMPARABLE: tuple[Operator, ...] = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
OPERATORS_BY_TYPE: dict[ColumnType, tuple[Operator, ...]] = {
    "string": ("eq", "ne", "in", "contains"),
    "integer": _COMPARABLE,
    "number": _COMPARABLE,
    "date": _COMPARABLE,
    "boolean": ("eq", "ne", "in"),
}

MAX_IN_VALUES = 100
MAX_STRING_LENGTH = 1000
_INT64 = range(-(2**63), 2**63)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Value = str | int | float | bool | date


@dataclass(frozen=True)
class Condition:
    """One checked condition: `column <operator> value` (a tuple of values for `in`)."""

    column: str
    operator: Operator
    value: Value | tuple[Value, ...]


def _show(raw: object) -> str:
    """A value as the caller wrote it, shortened: strings quoted, the rest as JSON."""
    text = repr(raw) if isinstance(raw, str) else json.dumps(raw, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _not_a(column: ColumnSpec, raw: object, what: str) -> InvalidArgument:
    return InvalidArgument(f"column {column.name!r} is {column.type}; {_show(raw)} is not {what}")


def parse_value(column: ColumnSpec, raw: object) -> Value:
    """`raw` (decoded JSON) as a value of `column`'s type.

    Raises:
        InvalidArgument: naming the column's type when `raw` is not a value of it.
    """
    if column.type == "string":
        if not isinstance(raw, str):
            raise _not_a(column, raw, "a string")
        if len(raw) > MAX_STRING_LENGTH or "\x00" in raw:
            raise InvalidArgument(
                f"column {column.name!r} is string; filter values are at most "
                f"{MAX_STRING_LENGTH} characters, without NUL characters"
            )
        return raw
    if column.type == "integer":
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _not_a(column, raw, "an integer")
        if raw not in _INT64:
            raise _not_a(column, raw, "a 64-bit integer")
        return raw
    if column.type == "number":
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise _not_a(column, raw, "a number")
        try:
            number = float(raw)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _not_a(column, raw, "a finite number")
        return number
    if column.type == "boolean":
        if not isinstance(raw, bool):
            raise _not_a(column, raw, "a boolean (true or false)")
        return raw
    if not isinstance(raw, str) or _ISO_DATE.fullmatch(raw) is None:
        raise _not_a(column, raw, "a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _not_a(column, raw, "a date (YYYY-MM-DD)") from None


def _condition(column: ColumnSpec, operator: object, raw: object) -> Condition:
    allowed = OPERATORS_BY_TYPE[column.type]
    if operator not in OPERATORS:
        raise InvalidArgument(
            f"unknown operator {_show(operator)} for column {column.name!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    if operator not in allowed:
        raise InvalidArgument(
            f"operator {operator!r} does not apply to column {column.name!r} ({column.type}); "
            f"allowed: {', '.join(allowed)}"
        )
    if operator == "in":
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IN_VALUES:
            raise InvalidArgument(
                f"operator 'in' for column {column.name!r} takes a list of 1 to "
                f"{MAX_IN_VALUES} {column.type} values"
            )
        return Condition(column.name, "in", tuple(parse_value(column, item) for item in raw))
    return Condition(column.name, operator, parse_value(column, raw))


def parse_filters(dataset: DatasetSpec, filters: Mapping[str, object]) -> list[Condition]:
    """Check `filters` (decoded JSON) against `dataset`'s columns; one condition per operator.

    Raises:
        InvalidArgument: naming the first problem and what is allowed there.
    """
    conditions: list[Condition] = []
    for name, spec in filters.items():
        column = dataset.column(name)
        allowed = ", ".join(OPERATORS_BY_TYPE[column.type])
        if isinstance(spec, Mapping):
            if not spec:
                raise InvalidArgument(
                    f"filter for column {name!r} has no operator; allowed: {allowed}"
                )
            conditions.extend(_condition(column, op, raw) for op, raw in spec.items())
        elif isinstance(spec, list):
            raise InvalidArgument(
                f"filter for column {name!r} is a list; to match any of several values "
                f'write {{"in": [...]}}'
            )
        else:
            conditions.append(_condition(column, "eq", spec))
    return conditions


def compile_filters(table: Table, conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
    """SQLAlchemy expressions for `conditions` on `table`, every value a bound parameter."""
    clauses: list[ColumnElement[bool]] = []
    for condition in conditions:
        column = table.c[condition.column]
        value = condition.value
        match condition.operator:
            case "eq":
                clauses.append(column == value)
            case "ne":
                clauses.append(column != value)
            case "lt":
                clauses.append(column < value)
            case "lte":
                clauses.append(column <= value)
            case "gt":
                clauses.append(column > value)
            case "gte":
                clauses.append(column >= value)
            case "in":
                values = value if isinstance(value, tuple) else (value,)
                clauses.append(column.in_(values))
            case "contains":
                clauses.append(column.icontains(value, autoescape=True))
    return clauses


def filters_json_schema() -> dict[str, Any]:
    """The JSON Schema of one entry of `filters`, as tools/list publishes it."""
    scalar: dict[str, Any] = {"type": ["string", "number", "boolean"]}
    operators: dict[str, Any] = {op: scalar for op in OPERATORS if op not in ("in", "contains")}
    operators["in"] = {"type": "array", "items": scalar, "minItems": 1, "maxItems": MAX_IN_VALUES}
    operators["contains"] = {"type": "string"}
    return {
        "anyOf": [
            scalar,
            {
                "type": "object",
                "properties": operators,
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    }
