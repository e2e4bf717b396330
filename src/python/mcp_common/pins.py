"""Tool-definition pins: a SHA-256 of what a tool says it is, so a change can be noticed.

An assistant decides what to call, and with what, from a tool's description and schemas. An
upstream that changes them (a compromised or careless server rewording a description into
instructions, widening a schema) changes what the assistant does, with no deploy on this side.
A pin is the hash of the definition a reviewer approved; the aggregator compares every listed
tool with its pin.

The hash covers the name, description, input and output schema and annotations, as clients
see them (the wire form of `tools/list`, after any tool prefix), serialized canonically
(sorted keys, no insignificant white space, UTF-8). `mcp-client pins` and the aggregator use
this one function, so a printed pin is exactly what the aggregator checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mcp import types

PINNED_FIELDS = ("name", "description", "inputSchema", "outputSchema", "annotations")


def definition_hash(tool: types.Tool | Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the tool's canonical definition."""
    wire = (
        tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(tool, types.Tool)
        else dict(tool)
    )
    canonical = {name: wire.get(name) for name in PINNED_FIELDS}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def render_pins(tools: Mapping[str, str], mode: str = "enforce") -> str:
    """A pins file for `tools` (name -> pin), in the aggregator's format (ready to commit)."""
    lines = [
        "# Tool-definition pins (MCP_AGGREGATOR_PINS_FILE): review, then commit.",
        f"mode: {mode}",
        "tools:",
    ]
    lines += [f"  {json.dumps(name)}: {pin}" for name, pin in sorted(tools.items())]
    return "\n".join(lines) + "\n"
