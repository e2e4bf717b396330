"""Example arguments for each tool, for `mcp-client demo`.

The platform's contract tools have curated examples (a real user id, a dataset the data
server lists); any other tool, or a curated example its current schema no longer accepts,
gets arguments derived from its `inputSchema`: each required property from its default,
first enum value, first example, or a value of its type within its bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from jsonschema import Draft202012Validator
from mcp.types import Tool

ExampleSource = Literal["curated", "derived"]

CURATED: dict[str, dict[str, Any]] = {
    "get_user_profile": {"user_id": "u-0001", "include_details": True},
    "list_users": {"limit": 3},
    "create_ticket": {
        "title": "mcp-client demo ticket",
        "description": "Opened by `mcp-client demo` to show that create_ticket works.",
        "priority": "low",
        # The same key every run: repeated demos return the first ticket, not a new one.
        "idempotency_key": "mcp-client-demo",
    },
    "list_tickets": {"status": "open", "limit": 3},
    "query_data": {
        "dataset": "sales",
        "filters": {"region": "EMEA", "units": {"gte": 100}},
        "limit": 3,
    },
}
_FORMATS = {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z", "email": "a@example.com"}


def example_arguments(tool: Tool) -> tuple[dict[str, Any], ExampleSource]:
    """Arguments to call `tool` with, and where they came from."""
    curated = CURATED.get(tool.name)
    if curated is not None and Draft202012Validator(tool.input_schema).is_valid(curated):
        return dict(curated), "curated"
    derived = example_value(tool.input_schema, tool.input_schema)
    return (derived if isinstance(derived, dict) else {}), "derived"


def example_value(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """A value `schema` (within document `root`, for local `$ref`s) most likely accepts."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if _resolve(o, root).get("type") != "null"]
            return example_value((non_null or options)[0], root)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    for key in ("enum", "examples"):
        values = schema.get(key)
        if isinstance(values, list) and values:
            return values[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        return {
            name: example_value(properties[name], root)
            for name in schema.get("required") or ()
            if name in properties
        }
    if kind == "array":
        items = schema.get("items")
        count = int(schema.get("minItems", 0))
        return [example_value(items, root) if isinstance(items, Mapping) else None] * count
    if kind == "string":
        return _example_string(schema)
    if kind in ("integer", "number"):
        return _example_number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(32):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _example_string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    text = "example"
    shortest = int(schema.get("minLength", 0))
    longest = schema.get("maxLength")
    text = text.ljust(shortest, "x")
    return text[: int(longest)] if longest is not None else text


def _example_number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    if low is None and schema.get("exclusiveMinimum") is not None:
        low = schema["exclusiveMinimum"] + 1
    high = schema.get("maximum")
    if high is None and schema.get("exclusiveMaximum") is not None:
        high = schema["exclusiveMaximum"] - 1
    value = low if low is not None else 1
    if high is not None and value > high:
        value = high
    return int(value) if integer else float(value)
