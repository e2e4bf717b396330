"""Text a person reads: the tool table, call results, problems and changes."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from mcp.types import CallToolResult, TextContent, Tool

from mcp_common.tools import reported_error

_MIN_DESCRIPTION = 24
_INPUTS_WIDTH = 38


def tool_json(tool: Tool) -> dict[str, Any]:
    """A tool as `tools/list` puts it on the wire (camelCase keys)."""
    return tool.model_dump(by_alias=True, exclude_none=True, mode="json")


def type_label(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """A short type: `string`, `integer 1..100`, `low|medium|high`, `UserDetails|null`."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return name or "object"
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return "|".join(type_label(option, root) for option in options)
    if isinstance(schema.get("enum"), list):
        return "|".join(json.dumps(v) if not isinstance(v, str) else v for v in schema["enum"])
    kind = schema.get("type", "any")
    label = "|".join(kind) if isinstance(kind, list) else str(kind)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        label += f" {'' if low is None else low}..{'' if high is None else high}"
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        label = f"list of {type_label(schema['items'], root)}"
    return label


def input_lines(schema: Mapping[str, Any]) -> list[str]:
    """One line per input: `name*: type = default` (`*`: required)."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    lines = []
    for name, prop in properties.items():
        mark = "*" if name in required else ""
        line = f"{name}{mark}: {type_label(prop, schema)}"
        if "default" in prop:
            line += f" = {json.dumps(prop['default'])}"
        lines.append(line)
    return lines or ["(none)"]


def _hints(tool: Tool) -> str:
    hints = tool.annotations
    if hints is None:
        return ""
    if hints.read_only_hint:
        return "read-only"
    return "destructive" if hints.destructive_hint else "writes"


def tools_table(tools: Sequence[Tool], width: int = 120) -> str:
    """Name (and hint), inputs and description of every tool, wrapped to `width` columns."""
    name_cells = [[tool.name] + ([f"({_hints(tool)})"] if _hints(tool) else []) for tool in tools]
    name_width = max([len("TOOL")] + [len(line) for cell in name_cells for line in cell])
    inputs_width = _INPUTS_WIDTH
    description_width = max(_MIN_DESCRIPTION, width - name_width - inputs_width - 4)
    widths = (name_width, inputs_width, description_width)
    rows = [_row(("TOOL", "INPUTS (* required)", "DESCRIPTION"), widths)]
    for tool, name_cell in zip(tools, name_cells, strict=True):
        inputs_cell = [
            wrapped
            for line in input_lines(tool.input_schema)
            for wrapped in wrap(line, inputs_width)
        ]
        description_cell = [
            wrapped
            for paragraph in (tool.description or "").splitlines() or [""]
            for wrapped in (textwrap.wrap(paragraph, description_width) or [""])
        ]
        rows.append("")
        rows.append(_row_lines((name_cell, inputs_cell, description_cell), widths))
    return "\n".join(rows)


def wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    """`text` in lines of at most `width`, broken after a space or a `|` (type alternatives),
    continuation lines indented."""
    room = max(1, width - len(indent))
    tokens = [token for token in re.split(r"(?<=[| ])", text) if token]
    pieces = [token[i : i + room] for token in tokens for i in range(0, len(token), room)]
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current.strip() and len(current) + len(piece.rstrip()) > width:
            lines.append(current.rstrip())
            current = indent + piece
        else:
            current += piece
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return _row_lines([[cell] for cell in cells], widths)


def _row_lines(cells: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    height = max(len(cell) for cell in cells)
    lines = []
    for index in range(height):
        parts = [
            (cell[index] if index < len(cell) else "").ljust(w)
            for cell, w in zip(cells, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def result_json(result: CallToolResult) -> Any:
    """What a script reads from a call: `structuredContent`; for a platform error
    `{"error": {"code", "message"[, "details"]}}` (its code from `_meta`); else the text."""
    if result.structured_content is not None:
        return result.structured_content
    error = reported_error(result)
    if error is not None:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.details:
            body["details"] = error.details
        return {"error": body}
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return {"text": "\n".join(texts)}


def error_summary(result: CallToolResult) -> str:
    """`code: message` of a failed call (the platform's error shape), else its text."""
    error = reported_error(result)
    if error is not None:
        return f"{error.code}: {error.message}"
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return " ".join(texts) or "the tool reported an error without a message"


def shorten(value: Any, limit: int = 240) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
