"""Tool-definition pins: reading the pins file, and what each mode does to the catalog."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import types

from mcp_aggregator.catalog import Catalog, UpstreamListing, merge
from mcp_aggregator.errors import ConfigError
from mcp_aggregator.pins import Mismatch, Pins, check, load_pins, log_changes, parse_pins
from mcp_common.pins import definition_hash

STALE = "sha256:" + "0" * 64


def _catalog() -> Catalog:
    tools = tuple(
        types.Tool(name=name, description=f"{name} things", input_schema={"type": "object"})
        for name in ("create_ticket", "list_tickets", "new_tool")
    )
    return merge({"tickets": UpstreamListing(prefix="", tools=tools)})


def _pins(mode: str) -> Pins:
    """`list_tickets` pinned as listed, `create_ticket` pinned to an old definition, `new_tool`
    not pinned."""
    catalog = _catalog()
    approved = definition_hash(next(t for t in catalog.tools if t.name == "list_tickets"))
    return parse_pins({"mode": mode, "tools": {"list_tickets": approved, "create_ticket": STALE}})


def test_off_checks_nothing() -> None:
    catalog = _catalog()
    assert check(catalog, _pins("off")) == (catalog, {})


def test_warn_keeps_every_tool_and_reports_the_changed_and_the_unpinned() -> None:
    catalog = _catalog()
    served, mismatches = check(catalog, _pins("warn"))
    assert served == catalog
    assert set(mismatches) == {"create_ticket", "new_tool"}
    assert mismatches["create_ticket"].pinned == STALE
    assert mismatches["new_tool"].pinned is None


def test_enforce_quarantines_what_does_not_match_from_the_list_and_the_routes() -> None:
    served, mismatches = check(_catalog(), _pins("enforce"))
    assert [tool.name for tool in served.tools] == ["list_tickets"]
    assert set(served.tool_routes) == {"list_tickets"}, "a quarantined tool cannot be called"
    assert set(mismatches) == {"create_ticket", "new_tool"}


def test_a_mismatch_says_which_tool_both_hashes_and_how_to_approve_it() -> None:
    actual = "sha256:" + "a" * 64
    changed = Mismatch("create_ticket", actual, STALE).describe()
    assert changed == (
        f"tool 'create_ticket' changed: its definition is {actual}, its pin {STALE}; "
        "approve the new definition by updating its pin in the pins file"
    )
    unpinned = Mismatch("new_tool", actual, None).describe()
    assert unpinned.startswith(f"tool 'new_tool' has no pin (its definition is {actual})")
    assert "adding its pin to the pins file" in unpinned


def test_a_file_without_a_mode_enforces(tmp_path: Path) -> None:
    path = tmp_path / "pins.yaml"
    path.write_text(f"tools:\n  create_ticket: {STALE}\n")
    assert load_pins(path) == Pins(mode="enforce", tools={"create_ticket": STALE})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (["create_ticket"], "must be a mapping with 'mode' and 'tools'"),
        ({"mode": "warn", "tool": {}}, r"unknown pins keys \['tool'\]; allowed: mode, tools"),
        ({"mode": "strict"}, "mode: 'strict' must be 'off', 'warn' or 'enforce'"),
        ({"tools": ["create_ticket"]}, "tools: expected a mapping of tool names to sha256"),
        ({"tools": {"t": "0" * 64}}, "tools.t: '0000.*' is not a pin like sha256:<64 hex"),
        ({"tools": {"t": STALE[:-1]}}, "tools.t: .* is not a pin like sha256:<64 hex"),
        ({"tools": {"t": 42}}, "tools.t: 42 is not a pin"),
    ],
)
def test_an_invalid_pins_document_names_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_pins(document)


def test_a_pin_that_is_not_hex_is_refused() -> None:
    # Shaped like a pin but not one: it could never match, so the tool would be quarantined
    # with a "changed" message instead of the file being refused.
    with pytest.raises(ConfigError, match="tools.t: .* is not a pin like sha256:<64 hex"):
        parse_pins({"tools": {"t": "sha256:" + "x" * 64}})


def test_unknown_keys_of_mixed_types_are_still_a_config_error() -> None:
    # YAML reads `1:` as an integer key and `on:` as a boolean one.
    with pytest.raises(ConfigError, match="unknown pins keys"):
        parse_pins({"mode": "warn", 1: "x", "tool": {}})


def test_a_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pins.yaml"
    path.write_text("mode: always\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: mode: 'always' must be"):
        load_pins(path)
    with pytest.raises(ConfigError, match=re.escape(f"cannot read {tmp_path / 'missing.yaml'}")):
        load_pins(tmp_path / "missing.yaml")


def test_each_change_is_logged_once_at_the_level_its_mode_deserves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_aggregator.pins")
    _, mismatches = check(_catalog(), _pins("enforce"))
    log_changes({}, mismatches, "enforce")
    log_changes(mismatches, mismatches, "enforce")  # nothing new: nothing logged
    log_changes(mismatches, {"new_tool": mismatches["new_tool"]}, "warn")
    logged = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert logged == [
        ("ERROR", "quarantined"),
        ("ERROR", "quarantined"),
        ("INFO", "tool 'create_ticket' matches its pin again"),
    ]
    assert "tool 'create_ticket' changed" in caplog.records[0].getMessage()
