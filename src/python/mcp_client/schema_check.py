"""Checks of the tools a server publishes: names, descriptions, and their JSON Schemas.

Pure functions over `mcp.types.Tool`, shared by `mcp-client validate` and the contract tests.
A problem names the tool, where in it, and what is wrong.

Rules: a name matches the MCP rule `^[A-Za-z0-9_.-]{1,128}$` and is listed once; a
description is present (it is all an assistant reads); `inputSchema` and `outputSchema` are
both present, valid JSON Schema 2020-12 (checked against the meta-schema), of type object,
and self-contained (every `$ref` points into the schema itself: a client cannot fetch one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from mcp.types import Tool

from mcp_common.tools import TOOL_NAME

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class SchemaProblem:
    tool: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.tool}: {self.where}: {self.message}"


def check_tools(tools: Sequence[Tool]) -> list[SchemaProblem]:
    """Every problem of every tool, in listing order (empty when all is well)."""
    problems: list[SchemaProblem] = []
    counts = Counter(tool.name for tool in tools)
    for name, count in counts.items():
        if count > 1:
            problems.append(SchemaProblem(name, "name", f"listed {count} times"))
    for tool in tools:
        problems.extend(check_tool(tool))
    return problems


def check_tool(tool: Tool) -> list[SchemaProblem]:
    """The problems of one tool."""
    problems: list[SchemaProblem] = []
    if not TOOL_NAME.fullmatch(tool.name):
        problems.append(
            SchemaProblem(
                tool.name, "name", "not a valid tool name (1 to 128 of A-Z a-z 0-9 _ . -)"
            )
        )
    if not (tool.description or "").strip():
        problems.append(SchemaProblem(tool.name, "description", "missing"))
    for where, schema in (("inputSchema", tool.input_schema), ("outputSchema", tool.output_schema)):
        if schema is None:
            problems.append(
                SchemaProblem(
                    tool.name, where, "missing: a client cannot check what the tool returns"
                )
            )
            continue
        problems.extend(SchemaProblem(tool.name, where, text) for text in check_schema(schema))
    return problems


def check_schema(schema: Mapping[str, Any]) -> list[str]:
    """What makes `schema` unusable as a tool's JSON Schema 2020-12 object schema."""
    declared = schema.get("$schema")
    if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
        return [f"declares $schema {declared!r}; MCP tool schemas are JSON Schema 2020-12"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        return [f"not valid JSON Schema 2020-12 at {where}: {exc.message}"]
    problems = []
    if schema.get("type") != "object":
        problems.append(f"type is {schema.get('type')!r}; a tool schema must be of type 'object'")
    for ref in _refs(schema):
        if not ref.startswith("#"):
            problems.append(f"$ref {ref!r} points outside the schema; clients cannot fetch it")
        elif not _resolves(schema, ref):
            problems.append(f"$ref {ref!r} does not resolve within the schema")
    return problems


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolves(root: Mapping[str, Any], ref: str) -> bool:
    node: Any = root
    pointer = ref[1:]
    if not pointer:
        return True
    if not pointer.startswith("/"):
        return False  # an anchor (`#name`): pydantic never writes one; treat as unresolvable
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True
