"""The tool table and call results as a person reads them."""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent, Tool, ToolAnnotations

from mcp_client.render import error_summary, input_lines, result_json, tools_table, wrap
from mcp_common import errors

SCHEMA = {
    "type": "object",
    "$defs": {"Level": {"type": "string", "enum": ["low", "high"]}},
    "properties": {
        "user_id": {"type": "string"},
        "level": {"$ref": "#/$defs/Level"},
        "status": {"anyOf": [{"enum": ["open", "closed"], "type": "string"}, {"type": "null"}]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["user_id"],
}


def test_inputs_show_required_marks_types_bounds_enums_and_defaults() -> None:
    assert input_lines(SCHEMA) == [
        "user_id*: string",
        "level: Level",
        "status: open|closed|null",
        "limit: integer 1..100 = 10",
        "tags: list of string",
    ]
    assert input_lines({"type": "object"}) == ["(none)"]


def test_the_table_has_a_row_per_tool_with_hint_inputs_and_wrapped_description() -> None:
    tools = [
        Tool(
            name="lookup",
            description="Find one thing. " * 12,
            input_schema=SCHEMA,
            annotations=ToolAnnotations(read_only_hint=True),
        ),
        Tool(
            name="remove",
            description="Remove it.",
            input_schema={"type": "object"},
            annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True),
        ),
    ]
    table = tools_table(tools, width=100)
    lines = table.splitlines()
    inputs_at, description_at = lines[0].index("INPUTS"), lines[0].index("DESCRIPTION")
    assert all(len(line) <= 100 for line in lines)
    assert lines[2][:inputs_at].strip() == "lookup"
    assert lines[3][:inputs_at].strip() == "(read-only)"
    assert [line[inputs_at:description_at].strip() for line in lines[2:7]] == [
        "user_id*: string",
        "level: Level",
        "status: open|closed|null",
        "limit: integer 1..100 = 10",
        "tags: list of string",
    ]
    described = " ".join(line[description_at:].strip() for line in lines[2:10])
    assert described.startswith("Find one thing. Find one thing.")
    remove = next(index for index, line in enumerate(lines) if line.startswith("remove"))
    assert lines[remove][inputs_at:description_at].strip() == "(none)"
    assert lines[remove][description_at:] == "Remove it."
    assert lines[remove + 1].strip() == "(destructive)"


def test_wrapping_breaks_between_alternatives_and_indents_continuations() -> None:
    assert wrap("status: open|in_progress|resolved|closed|null = null", 30) == [
        "status: open|in_progress|",
        "  resolved|closed|null = null",
    ]
    assert wrap("x" * 10, 6) == ["xxxx", "  xxxx", "  xx"]


def test_results_show_structured_content_and_platform_errors() -> None:
    ok = CallToolResult(content=[], structured_content={"total": 3})
    failed = CallToolResult.model_validate(errors.error_result("not_found", "no user 'x'"))
    plain = CallToolResult(content=[TextContent(type="text", text="boom")], is_error=True)
    assert result_json(ok) == {"total": 3}
    assert error_summary(failed) == "not_found: no user 'x'"
    assert result_json(failed) == {"error": {"code": "not_found", "message": "no user 'x'"}}
    assert result_json(plain) == {"text": "boom"}
    assert error_summary(plain) == "boom"
