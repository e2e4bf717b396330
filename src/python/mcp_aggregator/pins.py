"""Tool-definition pinning at the aggregator: quarantine a tool whose definition changed.

The pins file (`MCP_AGGREGATOR_PINS_FILE`, YAML, followed without a restart):

    mode: enforce            # off | warn | enforce
    tools:
      create_ticket: sha256:5f1c...   # as `mcp-client pins` prints them
      list_tickets: sha256:09ab...

- `off`: pins are not checked.
- `warn`: every tool is listed and callable; a tool whose definition does not match its pin,
  or that has no pin, is logged (once per change) and counted in the metrics.
- `enforce`: such a tool is quarantined: left out of `tools/list`, and a call to it is refused
  with a tool error naming the tool and both hashes. A renamed or new tool has no pin and is
  quarantined too, so renaming cannot slip a changed definition past review. Approving a
  definition is a configuration change (its new pin in the file), applied without a restart.

Pins are by exposed name (what clients call). The mcp_common.pins docstring says what is hashed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mcp_aggregator.catalog import Catalog
from mcp_aggregator.config import load_yaml_file, unknown_keys
from mcp_aggregator.errors import ConfigError
from mcp_common.pins import definition_hash

logger = logging.getLogger(__name__)

PinMode = Literal["off", "warn", "enforce"]
_PIN = re.compile(r"sha256:[0-9a-f]{64}")
"""What `definition_hash` writes: lower-case hex (a pin in any other form could never match)."""


@dataclass(frozen=True)
class Pins:
    mode: PinMode = "off"
    tools: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mismatch:
    """A listed tool whose definition is not the pinned one (`pinned` None: it has no pin)."""

    tool: str
    actual: str
    pinned: str | None

    def describe(self) -> str:
        if self.pinned is None:
            return (
                f"tool {self.tool!r} has no pin (its definition is {self.actual}); "
                "approve it by adding its pin to the pins file"
            )
        return (
            f"tool {self.tool!r} changed: its definition is {self.actual}, its pin {self.pinned}; "
            "approve the new definition by updating its pin in the pins file"
        )


def check(catalog: Catalog, pins: Pins) -> tuple[Catalog, dict[str, Mismatch]]:
    """The catalog clients get under `pins`, and every mismatch (quarantined when enforced)."""
    if pins.mode == "off":
        return catalog, {}
    mismatches: dict[str, Mismatch] = {}
    for tool in catalog.tools:
        actual = definition_hash(tool)
        pinned = pins.tools.get(tool.name)
        if pinned != actual:
            mismatches[tool.name] = Mismatch(tool.name, actual, pinned)
    if pins.mode == "warn" or not mismatches:
        return catalog, mismatches
    kept = tuple(tool for tool in catalog.tools if tool.name not in mismatches)
    routes = {name: r for name, r in catalog.tool_routes.items() if name not in mismatches}
    return replace(catalog, tools=kept, tool_routes=routes), mismatches


def parse_pins(document: Any) -> Pins:
    """Raises: ConfigError, naming the first problem."""
    if not isinstance(document, dict):
        raise ConfigError("the pins file must be a mapping with 'mode' and 'tools'")
    unknown = unknown_keys(document, {"mode", "tools"})
    if unknown:
        raise ConfigError(f"unknown pins keys {unknown}; allowed: mode, tools")
    mode = document.get("mode", "enforce")
    if mode not in ("off", "warn", "enforce"):
        raise ConfigError(f"mode: {mode!r} must be 'off', 'warn' or 'enforce'")
    tools = document.get("tools") or {}
    if not isinstance(tools, dict):
        raise ConfigError("tools: expected a mapping of tool names to sha256:<hex> pins")
    for name, pin in tools.items():
        if not isinstance(pin, str) or not _PIN.fullmatch(pin):
            raise ConfigError(
                f"tools.{name}: {pin!r} is not a pin like sha256:<64 hex digits, lower-case>"
            )
    return Pins(mode=mode, tools={str(k): str(v) for k, v in tools.items()})


def load_pins(path: Path) -> Pins:
    """Read and validate a pins file.

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message says where).
    """
    return load_yaml_file(path, parse_pins)


def log_changes(old: Mapping[str, Mismatch], new: Mapping[str, Mismatch], mode: PinMode) -> None:
    for name, mismatch in new.items():
        if old.get(name) != mismatch:
            if mode == "enforce":
                logger.error("quarantined: %s", mismatch.describe(), extra={"tool": name})
            else:
                logger.warning("pin mismatch: %s", mismatch.describe(), extra={"tool": name})
    for name in old.keys() - new.keys():
        logger.info("tool %r matches its pin again", name, extra={"tool": name})
