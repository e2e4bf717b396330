"""The compatibility gate: compare a published tool contract with what a server lists now.

A contract is `{"tools": {name: {"inputSchema", "outputSchema", "annotations"}}}` (see
`contract_of`), checked in as `tests/contract/contract.json`. `compare` says what changed;
a change is *breaking* when a client written against the old contract can fail:

| change                                                              | verdict    |
| ------------------------------------------------------------------- | ---------- |
| tool removed; output schema removed                                 | breaking   |
| output field removed, or no longer required (may be missing)        | breaking   |
| output field retyped to a type outside the old one (null included)  | breaking   |
| output enum gains values; output bounds or pattern loosened         | breaking   |
| input newly required (new or formerly optional)                     | breaking   |
| input removed (calls sending it are refused or silently ignored)    | breaking   |
| input type narrowed, enum narrowed, bounds / pattern tightened      | breaking   |
| input stops accepting extra properties                              | breaking   |
| hint weakened: no longer read-only or idempotent, now destructive   | breaking   |
| tool added; optional input added; output field added                | compatible |
| anything else (descriptions, titles, loosened input bounds)         | compatible |

Schemas are compared structurally: local `$ref`s are followed, `anyOf`/`oneOf` branches are
matched by JSON type (so `X | None` compares X with X and notes the null), and objects,
arrays and map values (`additionalProperties`) are compared recursively.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcp.types import Tool

Direction = Literal["input", "output"]
Schema = Mapping[str, Any]

ABOUT = (
    "The published MCP tool contract of the aggregator. CI compares it with the live tools; "
    "update it after a compatible change with: ./pants run tests/contract:update"
)
_ANY = "any"
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# Hint, the value a client may rely on, and the default when a server omits it (MCP spec).
_HINTS = (
    ("readOnlyHint", True, False, "is no longer read-only"),
    ("idempotentHint", True, False, "is no longer idempotent"),
    ("destructiveHint", False, True, "is now destructive"),
)


@dataclass(frozen=True)
class Change:
    tool: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.tool}: {self.message}"


def contract_of(tools: Iterable[Tool]) -> dict[str, Any]:
    """The contract document of `tools` (what `tests/contract/contract.json` holds)."""
    entries: dict[str, Any] = {}
    for tool in sorted(tools, key=lambda item: item.name):
        hints = {}
        if tool.annotations is not None:
            dumped = tool.annotations.model_dump(by_alias=True, exclude_none=True, mode="json")
            hints = {key: value for key, value in dumped.items() if key.endswith("Hint")}
        entries[tool.name] = {
            "inputSchema": tool.input_schema,
            "outputSchema": tool.output_schema,
            "annotations": hints,
        }
    return {"about": ABOUT, "tools": entries}


def dump_contract(contract: Mapping[str, Any]) -> str:
    """Stable text (sorted keys, two-space indent) so a diff shows only real changes."""
    return json.dumps(contract, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_contract(path: Path) -> dict[str, Any]:
    """Raises: OSError, ValueError (not JSON, or no `tools` mapping)."""
    return parse_contract(path.read_text(), str(path))


def parse_contract(text: str, source: str) -> dict[str, Any]:
    """Raises: ValueError (not JSON, or no `tools` mapping), naming `source`."""
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("tools"), dict):
        raise ValueError(f"{source}: not a contract file (expected an object with 'tools')")
    return document


def breaking(changes: Iterable[Change]) -> list[Change]:
    return [change for change in changes if change.breaking]


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every change from contract `old` to contract `new`, breaking ones first."""
    old_tools: Mapping[str, Any] = old["tools"]
    new_tools: Mapping[str, Any] = new["tools"]
    changes: list[Change] = []
    for name in sorted(old_tools.keys() - new_tools.keys()):
        changes.append(Change(name, "tool was removed", True))
    for name in sorted(new_tools.keys() - old_tools.keys()):
        changes.append(Change(name, "tool was added", False))
    for name in sorted(old_tools.keys() & new_tools.keys()):
        before, after = old_tools[name], new_tools[name]
        found = _compare_tool(name, before, after)
        if not found and before != after:
            found = [
                Change(
                    name,
                    "schemas changed compatibly (descriptions, titles, defaults or looser inputs)",
                    False,
                )
            ]
        changes.extend(found)
    return sorted(changes, key=lambda change: not change.breaking)


def _compare_tool(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    walk = _Walk(name, old["inputSchema"], new["inputSchema"], "input", changes)
    walk.compare(old["inputSchema"], new["inputSchema"], "")
    old_out, new_out = old.get("outputSchema"), new.get("outputSchema")
    if old_out is not None and new_out is None:
        changes.append(Change(name, "outputSchema was removed", True))
    elif old_out is None and new_out is not None:
        changes.append(Change(name, "outputSchema was added", False))
    elif old_out is not None and new_out is not None:
        _Walk(name, old_out, new_out, "output", changes).compare(old_out, new_out, "")
    old_hints, new_hints = old.get("annotations") or {}, new.get("annotations") or {}
    for hint, relied_on, default, message in _HINTS:
        if old_hints.get(hint, default) == relied_on and new_hints.get(hint, default) != relied_on:
            changes.append(Change(name, f"tool {message} ({hint})", True))
    return changes


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(branch: Schema) -> set[str]:
    declared = branch.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "enum" in branch or "const" in branch:
        return {_json_type(value) for value in _enum(branch) or ()}
    if "properties" in branch or "additionalProperties" in branch:
        return {"object"}
    if "items" in branch:
        return {"array"}
    return {_ANY}


def _enum(branch: Schema) -> list[Any] | None:
    if "const" in branch:
        return [branch["const"]]
    values = branch.get("enum")
    return list(values) if isinstance(values, list) else None


def _covers(wide: set[str], narrow: set[str]) -> bool:
    """Whether every value of the types `narrow` is a value of the types `wide`."""
    if _ANY in wide:
        return True
    return all(kind in wide or (kind == "integer" and "number" in wide) for kind in narrow)


def _branch_for(branches: list[Schema], kind: str) -> Schema:
    for branch in branches:
        types = _types(branch)
        if kind in types or _ANY in types:
            return branch
    return branches[0]


def _show(types: set[str]) -> str:
    return "|".join(sorted(types))


def _field(path: str) -> str:
    return repr(path) if path else "(root)"


class _Walk:
    """One structural comparison of an old and a new schema, collecting `Change`s."""

    def __init__(
        self, tool: str, old_root: Schema, new_root: Schema, side: Direction, out: list[Change]
    ) -> None:
        self._tool = tool
        self._roots = {"old": old_root, "new": new_root}
        self._side = side
        self._out = out
        self._noun = "input" if side == "input" else "output field"

    def _note(self, path: str, message: str, *, breaking: bool) -> None:
        self._out.append(Change(self._tool, f"{self._noun} {_field(path)} {message}", breaking))

    def _resolve(self, schema: Schema, which: str) -> Schema:
        seen = 0
        while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/") and seen < 32:
            target: Any = self._roots[which]
            for part in schema["$ref"][2:].split("/"):
                key = part.replace("~1", "/").replace("~0", "~")
                target = target.get(key, {}) if isinstance(target, Mapping) else {}
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **siblings}
            seen += 1
        return schema

    def _branches(self, schema: Schema, which: str) -> list[Schema]:
        schema = self._resolve(schema, which)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return [
                    branch for option in schema[key] for branch in self._branches(option, which)
                ]
        return [schema]

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_branches, new_branches = self._branches(old, "old"), self._branches(new, "new")
        old_types = set().union(*(_types(branch) for branch in old_branches))
        new_types = set().union(*(_types(branch) for branch in new_branches))
        if self._side == "output" and not _covers(old_types, new_types):
            self._note(
                path, f"changed type: {_show(old_types)} -> {_show(new_types)}", breaking=True
            )
        if self._side == "input" and not _covers(new_types, old_types):
            self._note(
                path,
                f"no longer accepts every type it did: {_show(old_types)} -> {_show(new_types)}",
                breaking=True,
            )
        # Untyped on either side (`{}` accepts anything): compare what is there as one branch.
        shared = {_ANY} if _ANY in old_types | new_types else old_types & new_types
        for kind in sorted(shared):
            self._compare_branch(
                _branch_for(old_branches, kind), _branch_for(new_branches, kind), kind, path
            )

    def _compare_branch(self, old: Schema, new: Schema, kind: str, path: str) -> None:
        self._compare_enum(old, new, kind, path)
        self._compare_bounds(old, new, path)
        if kind in ("object", _ANY):
            self._compare_object(old, new, path)
        if kind in ("array", _ANY) and isinstance(old.get("items"), Mapping):
            if isinstance(new.get("items"), Mapping):
                self.compare(old["items"], new["items"], f"{path}[]")

    def _compare_enum(self, old: Schema, new: Schema, kind: str, path: str) -> None:
        def of_kind(values: list[Any] | None) -> list[Any] | None:
            if values is None:
                return None
            return [v for v in values if kind == _ANY or _covers({kind}, {_json_type(v)})]

        old_values, new_values = of_kind(_enum(old)), of_kind(_enum(new))
        if self._side == "output" and old_values is not None:
            extra = [v for v in new_values or [] if v not in old_values]
            if new_values is None:
                self._note(path, f"is no longer limited to {old_values}", breaking=True)
            elif extra:
                self._note(path, f"may now hold values clients do not know: {extra}", breaking=True)
        if self._side == "input" and new_values is not None:
            if old_values is None:
                self._note(path, f"now accepts only {new_values}", breaking=True)
            elif dropped := [v for v in old_values if v not in new_values]:
                self._note(path, f"no longer accepts {dropped}", breaking=True)

    def _compare_bounds(self, old: Schema, new: Schema, path: str) -> None:
        # An input may not get stricter; an output may not get looser.
        strict_gets_worse = self._side == "input"
        for key in (*_LOWER, *_UPPER):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            lower = key in _LOWER
            if strict_gets_worse:
                tighter = before is None or (
                    after is not None and (after > before if lower else after < before)
                )
                if after is not None and tighter:
                    self._note(path, f"{key} tightened: {before} -> {after}", breaking=True)
            else:
                looser = after is None or (
                    before is not None and (after < before if lower else after > before)
                )
                if before is not None and looser:
                    self._note(path, f"{key} loosened: {before} -> {after}", breaking=True)
        for key in ("pattern", "format"):
            before, after = old.get(key), new.get(key)
            changed = before != after
            if changed and (after is not None if strict_gets_worse else before is not None):
                self._note(path, f"{key} changed: {before!r} -> {after!r}", breaking=True)

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties") or {}
        new_props: Mapping[str, Any] = new.get("properties") or {}
        old_required, new_required = set(old.get("required") or ()), set(new.get("required") or ())
        prefix = f"{path}." if path else ""
        for name in sorted(old_props.keys() - new_props.keys()):
            self._note(f"{prefix}{name}", "was removed", breaking=True)
        for name in sorted(new_props.keys() - old_props.keys()):
            if self._side == "input" and name in new_required:
                continue  # reported below as newly required
            optional = "optional " if self._side == "input" else ""
            self._out.append(
                Change(
                    self._tool, f"{optional}{self._noun} {_field(prefix + name)} was added", False
                )
            )
        if self._side == "input":
            for name in sorted(new_required - old_required):
                self._note(f"{prefix}{name}", "is newly required", breaking=True)
        else:
            for name in sorted((old_required - new_required) & new_props.keys()):
                self._note(f"{prefix}{name}", "is no longer always present", breaking=True)
        for name in sorted(old_props.keys() & new_props.keys()):
            self.compare(old_props[name], new_props[name], f"{prefix}{name}")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if self._side == "input" and new_extra is False and old_extra is not False:
            self._note(path, "no longer accepts extra properties", breaking=True)
        if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, f"{path}{{}}")
