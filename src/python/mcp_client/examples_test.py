"""`demo`'s example arguments: curated for the contract tools, derived from schemas otherwise."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from mcp.types import Tool

from mcp_client.examples import CURATED, example_arguments, example_value


def _tool(name: str, input_schema: dict[str, Any]) -> Tool:
    return Tool(name=name, description="d", input_schema=input_schema)


LIST_TICKETS = {
    "type": "object",
    "properties": {
        "status": {"anyOf": [{"type": "string", "enum": ["open", "closed"]}, {"type": "null"}]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    },
}


def test_a_curated_example_is_used_while_the_schema_accepts_it() -> None:
    arguments, source = example_arguments(_tool("list_tickets", LIST_TICKETS))
    assert (arguments, source) == (CURATED["list_tickets"], "curated")


def test_a_curated_example_the_schema_refuses_falls_back_to_a_derived_one() -> None:
    schema = {**LIST_TICKETS, "required": ["team"], "properties": {"team": {"type": "string"}}}
    arguments, source = example_arguments(_tool("list_tickets", schema))
    assert (arguments, source) == ({"team": "example"}, "derived")


def test_derived_arguments_fill_required_properties_from_defaults_enums_and_bounds() -> None:
    schema = {
        "type": "object",
        "$defs": {"Level": {"type": "string", "enum": ["low", "high"]}},
        "properties": {
            "level": {"$ref": "#/$defs/Level"},
            "count": {"type": "integer", "minimum": 5, "maximum": 9},
            "ratio": {"type": "number", "exclusiveMinimum": 0},
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "minLength": 10},
            "short": {"type": "string", "maxLength": 3},
            "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
            "page": {"type": "integer", "default": 2},
            "owner": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "optional": {"type": "string"},
        },
        "required": ["level", "count", "ratio", "when", "code", "short", "flags", "page", "owner"],
    }
    arguments, source = example_arguments(_tool("custom_tool", schema))
    assert source == "derived"
    assert arguments == {
        "level": "low",
        "count": 5,
        "ratio": 1.0,
        "when": "2024-01-01",
        "code": "examplexxx",
        "short": "exa",
        "flags": [False, False],
        "page": 2,
        "owner": "example",
    }
    assert Draft202012Validator(schema).is_valid(arguments)


@given(
    low=st.integers(-1000, 1000),
    span=st.integers(0, 1000),
    min_length=st.integers(0, 50),
    extra=st.integers(0, 50),
)
def test_derived_values_respect_the_bounds(
    low: int, span: int, min_length: int, extra: int
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": low, "maximum": low + span},
            "s": {"type": "string", "minLength": min_length, "maxLength": min_length + extra},
        },
        "required": ["n", "s"],
    }
    assert Draft202012Validator(schema).is_valid(example_value(schema, schema))
