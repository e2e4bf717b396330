"""`validate`'s rules on tools made for each problem, and on the platform's real schemas."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import Tool

from mcp_client.schema_check import check_schema, check_tools

GOOD_INPUT = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
GOOD_OUTPUT = {
    "type": "object",
    "$defs": {"Hit": {"type": "object", "properties": {"id": {"type": "string"}}}},
    "properties": {"hits": {"type": "array", "items": {"$ref": "#/$defs/Hit"}}},
}


def _tool(name: str = "search", **fields: Any) -> Tool:
    values: dict[str, Any] = {
        "description": "Search.",
        "input_schema": GOOD_INPUT,
        "output_schema": GOOD_OUTPUT,
        **fields,
    }
    return Tool(name=name, **values)


def test_well_formed_tools_have_no_problems() -> None:
    assert check_tools([_tool("search"), _tool("users.lookup-v2")]) == []


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (_tool("has space"), "has space: name: not a valid tool name"),
        (_tool("x" * 129), f"{'x' * 129}: name: not a valid tool name"),
        (_tool(description=" "), "search: description: missing"),
        (_tool(output_schema=None), "search: outputSchema: missing"),
        (
            _tool(input_schema={"type": "object", "properties": {"q": {"type": "text"}}}),
            "search: inputSchema: not valid JSON Schema 2020-12 at properties/q/type",
        ),
        (
            _tool(output_schema={"type": "object", "required": "id"}),
            "search: outputSchema: not valid JSON Schema 2020-12 at required",
        ),
        (_tool(output_schema={"type": "array"}), "search: outputSchema: type is 'array'"),
        (
            _tool(output_schema={"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}),
            "search: outputSchema: $ref '#/$defs/Nope' does not resolve within the schema",
        ),
        (
            _tool(
                input_schema={
                    "type": "object",
                    "properties": {"a": {"$ref": "https://example.com/a.json"}},
                }
            ),
            "search: inputSchema: $ref 'https://example.com/a.json' points outside the schema",
        ),
        (
            _tool(
                input_schema={
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                }
            ),
            "search: inputSchema: declares $schema 'http://json-schema.org/draft-07/schema#'",
        ),
    ],
)
def test_each_problem_is_reported_naming_the_tool_and_where(tool: Tool, expected: str) -> None:
    problems = [str(problem) for problem in check_tools([tool])]
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_a_name_listed_twice_is_a_problem() -> None:
    problems = [str(p) for p in check_tools([_tool("search"), _tool("search")])]
    assert problems == ["search: name: listed 2 times"]


def test_a_2020_12_declaration_is_accepted() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **GOOD_INPUT}
    assert check_schema(schema) == []
