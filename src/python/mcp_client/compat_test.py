"""The compatibility rules on synthetic old/new contracts: every break kind, and what passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.types import Tool, ToolAnnotations

from mcp_client.compat import (
    Change,
    breaking,
    compare,
    contract_of,
    dump_contract,
    load_contract,
)

TICKET = {
    "type": "object",
    "properties": {
        "ticket_id": {"type": "string", "pattern": "^T-[0-9]{6,}$"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "assignee": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["ticket_id", "status", "assignee"],
}
BASE: dict[str, Any] = {
    "tools": {
        "list_tickets": {
            "inputSchema": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "status": {
                        "anyOf": [
                            {"type": "string", "enum": ["open", "closed"]},
                            {"type": "null"},
                        ],
                        "default": None,
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                    "query": {"type": "string", "description": "Free text."},
                },
            },
            "outputSchema": {
                "$defs": {"Ticket": TICKET},
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/$defs/Ticket"}},
                    "total": {"type": "integer"},
                    "next": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
                "required": ["items", "total"],
            },
            "annotations": {"readOnlyHint": True, "idempotentHint": True},
        },
        "ping": {
            "inputSchema": {"type": "object", "properties": {}},
            "outputSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
            "annotations": {"readOnlyHint": False, "destructiveHint": False},
        },
    }
}

Edit = Callable[[dict[str, Any]], None]


def _changed(edit: Edit) -> list[Change]:
    new = copy.deepcopy(BASE)
    edit(new["tools"])
    return compare(BASE, new)


def _props_in(tools: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = tools["list_tickets"]["inputSchema"]["properties"]
    return properties


def _props_out(tools: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = tools["list_tickets"]["outputSchema"]["properties"]
    return properties


def _ticket(tools: dict[str, Any]) -> dict[str, Any]:
    ticket: dict[str, Any] = tools["list_tickets"]["outputSchema"]["$defs"]["Ticket"]
    return ticket


def _require_new_input(tools: dict[str, Any], name: str) -> None:
    _props_in(tools)[name] = {"type": "string"}
    tools["list_tickets"]["inputSchema"]["required"] = [name]


BREAKS: dict[str, tuple[Edit, str]] = {
    "tool removed": (lambda t: t.pop("ping"), "ping: tool was removed"),
    "output schema removed": (
        lambda t: t["ping"].update(outputSchema=None),
        "ping: outputSchema was removed",
    ),
    "output field removed": (
        lambda t: _props_out(t).pop("total"),
        "list_tickets: output field 'total' was removed",
    ),
    "nested output field removed (through $ref)": (
        lambda t: _ticket(t)["properties"].pop("status"),
        "list_tickets: output field 'items[].status' was removed",
    ),
    "output field retyped": (
        lambda t: _props_out(t).update(total={"type": "string"}),
        "list_tickets: output field 'total' changed type: integer -> string",
    ),
    "output integer widened to number": (
        lambda t: _props_out(t).update(total={"type": "number"}),
        "list_tickets: output field 'total' changed type: integer -> number",
    ),
    "output field becomes nullable": (
        lambda t: _ticket(t)["properties"].update(
            ticket_id={"anyOf": [{"type": "string", "pattern": "^T-[0-9]{6,}$"}, {"type": "null"}]}
        ),
        "list_tickets: output field 'items[].ticket_id' changed type: string -> null|string",
    ),
    "output field no longer required": (
        lambda t: t["list_tickets"]["outputSchema"].update(required=["items"]),
        "list_tickets: output field 'total' is no longer always present",
    ),
    "output enum gains a value": (
        lambda t: _ticket(t)["properties"]["status"]["enum"].append("on_hold"),
        "list_tickets: output field 'items[].status' may now hold values clients do not know: "
        "['on_hold']",
    ),
    "output pattern changed": (
        lambda t: _ticket(t)["properties"]["ticket_id"].update(pattern="^[0-9]+$"),
        "list_tickets: output field 'items[].ticket_id' pattern changed: "
        "'^T-[0-9]{6,}$' -> '^[0-9]+$'",
    ),
    "new required input": (
        lambda t: _require_new_input(t, "team"),
        "list_tickets: input 'team' is newly required",
    ),
    "optional input becomes required": (
        lambda t: t["list_tickets"]["inputSchema"].update(required=["query"]),
        "list_tickets: input 'query' is newly required",
    ),
    "input removed": (
        lambda t: _props_in(t).pop("query"),
        "list_tickets: input 'query' was removed",
    ),
    "input enum narrowed": (
        lambda t: _props_in(t)["status"]["anyOf"][0].update(enum=["open"]),
        "list_tickets: input 'status' no longer accepts ['closed']",
    ),
    "input loses null": (
        lambda t: _props_in(t).update(status={"type": "string", "enum": ["open", "closed"]}),
        "list_tickets: input 'status' no longer accepts every type it did: null|string -> string",
    ),
    "input retyped": (
        lambda t: _props_in(t).update(limit={"type": "string"}),
        "list_tickets: input 'limit' no longer accepts every type it did: integer -> string",
    ),
    "input maximum tightened": (
        lambda t: _props_in(t)["limit"].update(maximum=50),
        "list_tickets: input 'limit' maximum tightened: 100 -> 50",
    ),
    "input length bound added": (
        lambda t: _props_in(t)["query"].update(maxLength=10),
        "list_tickets: input 'query' maxLength tightened: None -> 10",
    ),
    "input gains an enum": (
        lambda t: _props_in(t)["query"].update(enum=["a", "b"]),
        "list_tickets: input 'query' now accepts only ['a', 'b']",
    ),
    "input stops accepting extra properties": (
        lambda t: t["ping"]["inputSchema"].update(additionalProperties=False),
        "ping: input (root) no longer accepts extra properties",
    ),
    "tool no longer read-only": (
        lambda t: t["list_tickets"]["annotations"].update(readOnlyHint=False),
        "list_tickets: tool is no longer read-only (readOnlyHint)",
    ),
    "tool becomes destructive": (
        lambda t: t["ping"]["annotations"].update(destructiveHint=True),
        "ping: tool is now destructive (destructiveHint)",
    ),
}

COMPATIBLE: dict[str, tuple[Edit, str]] = {
    "tool added": (
        lambda t: t.update(pong=copy.deepcopy(t["ping"])),
        "pong: tool was added",
    ),
    "optional input added": (
        lambda t: _props_in(t).update(team={"type": "string"}),
        "list_tickets: optional input 'team' was added",
    ),
    "output field added": (
        lambda t: _ticket(t)["properties"].update(title={"type": "string"}),
        "list_tickets: output field 'items[].title' was added",
    ),
    "input bound loosened": (
        lambda t: _props_in(t)["limit"].update(maximum=500),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "input accepts another type too": (
        lambda t: _props_in(t).update(query={"type": ["string", "integer"]}),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "input enum widened": (
        lambda t: _props_in(t)["status"]["anyOf"][0]["enum"].append("on_hold"),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "output enum narrowed": (
        lambda t: _ticket(t)["properties"]["status"].update(enum=["open"]),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "description changed": (
        lambda t: _props_in(t)["query"].update(description="Words to look for."),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "output nullable field becomes always set": (
        lambda t: _props_out(t).update(next={"type": "integer"}),
        "list_tickets: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
    "tool becomes read-only": (
        lambda t: t["ping"]["annotations"].update(readOnlyHint=True),
        "ping: schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
    ),
}


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_each_kind_of_break_fails_with_a_message_naming_it(kind: str) -> None:
    edit, message = BREAKS[kind]
    changes = _changed(edit)
    assert [str(change) for change in breaking(changes)] == [message]


@pytest.mark.parametrize("kind", sorted(COMPATIBLE))
def test_compatible_changes_pass_and_are_reported(kind: str) -> None:
    edit, message = COMPATIBLE[kind]
    changes = _changed(edit)
    assert breaking(changes) == []
    assert [str(change) for change in changes] == [message]


def test_an_unchanged_contract_has_no_changes() -> None:
    assert compare(BASE, copy.deepcopy(BASE)) == []


def test_breaks_are_listed_before_compatible_changes() -> None:
    def edit(tools: dict[str, Any]) -> None:
        tools["pong"] = copy.deepcopy(tools["ping"])
        del tools["ping"]

    changes = _changed(edit)
    assert [(str(c), c.breaking) for c in changes] == [
        ("ping: tool was removed", True),
        ("pong: tool was added", False),
    ]


def _tool(name: str, **fields: Any) -> Tool:
    return Tool(
        name=name,
        description="d",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
        output_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        **fields,
    )


def test_the_contract_of_tools_is_sorted_keeps_schemas_and_hints_and_round_trips(
    tmp_path: Path,
) -> None:
    tools = [
        _tool("b", annotations=ToolAnnotations(title="B", read_only_hint=True)),
        _tool("a"),
    ]
    contract = contract_of(tools)
    assert list(contract["tools"]) == ["a", "b"]
    assert contract["tools"]["b"]["annotations"] == {"readOnlyHint": True}
    assert contract["tools"]["a"]["inputSchema"] == tools[1].input_schema
    path = tmp_path / "contract.json"
    path.write_text(dump_contract(contract))
    assert load_contract(path) == contract
    assert compare(load_contract(path), contract_of(reversed(tools))) == []


def test_a_file_that_is_not_a_contract_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "contract.json"
    path.write_text('{"tool": []}')
    with pytest.raises(ValueError, match="not a contract file"):
        load_contract(path)
