"""Hypothesis strategies for tool arguments, valid and invalid, derived from `inputSchema`.

Valid arguments come from hypothesis-jsonschema. Invalid ones start from a valid object and
break it one way: a property of the wrong type, a required property left out, an unknown
property added, or a value far outside its bounds (huge strings and integers). Every invalid
object is checked against the schema, so a mutation that happens to stay valid is dropped.

Wrong-type values are values of any other JSON type: the servers validate strictly against
the published schema (`"5"` is not an integer, `true` is not 1), and `properties_test`
checks that explicitly.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import partial
from typing import Any, cast

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

Arguments = dict[str, Any]
InvalidCase = tuple[str, Arguments]

_WORDS = st.text(string.ascii_letters, min_size=2, max_size=12)
_VALUES_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "string": st.one_of(_WORDS, st.sampled_from(["5", "true", "yes", "1.5"])),
    "integer": st.integers(),
    "number": st.integers(-(10**6), 10**6).map(lambda n: n + 0.5),  # never integral
    "boolean": st.booleans(),
    "null": st.none(),
    "array": st.lists(st.integers(), max_size=3),
    "object": st.dictionaries(_WORDS, st.integers(), max_size=2),
}
_HUGE_LENGTH = 100_000
_DATASET_LINE = re.compile(r"^- ([a-z][a-z0-9_]{0,62}): ", re.MULTILINE)


def listed_datasets(description: str | None) -> list[str]:
    """The dataset names query_data's description lists (`- name: what a row is ...`): the
    only place a client learns them."""
    return _DATASET_LINE.findall(description or "")


def valid_arguments(schema: Mapping[str, Any]) -> st.SearchStrategy[Arguments]:
    return cast("st.SearchStrategy[Arguments]", from_schema(dict(schema)))


def allowed_types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a property accepts, or None when it accepts any."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return allowed_types(target, root)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            union: set[str] = set()
            for option in schema[key]:
                types = allowed_types(option, root)
                if types is None:
                    return None
                union |= types
            return union
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    return None


def _wrong_types(allowed: set[str]) -> list[str]:
    wrong = [kind for kind in _VALUES_BY_TYPE if kind not in allowed]
    if "number" in allowed and "integer" in wrong:
        wrong.remove("integer")  # an integer is a number
    return wrong


def _huge(schema: Mapping[str, Any], root: Mapping[str, Any]) -> st.SearchStrategy[Any] | None:
    types = allowed_types(schema, root) or set()
    options: list[st.SearchStrategy[Any]] = []
    if "string" in types:
        options.append(st.integers(10_000, _HUGE_LENGTH).map(lambda n: "x" * n))
    if types & {"integer", "number"}:
        options.append(st.one_of(st.integers(min_value=10**12), st.integers(max_value=-(10**12))))
        options.append(st.sampled_from([10**40, -(10**40)]))
    return st.one_of(options) if options else None


def invalid_arguments(schema: Mapping[str, Any]) -> st.SearchStrategy[InvalidCase]:
    """(kind, arguments) pairs that `schema` rejects; kind names how they were broken."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = [name for name in schema.get("required") or () if name in properties]
    validator = Draft202012Validator(schema)
    cases: list[st.SearchStrategy[InvalidCase]] = []
    for name, prop in properties.items():
        wrong = _wrong_types(allowed_types(prop, schema) or set(_VALUES_BY_TYPE))
        if wrong:
            value = st.sampled_from(wrong).flatmap(lambda kind: _VALUES_BY_TYPE[kind])
            cases.append(_with(schema, name, value, "wrong type"))
        huge = _huge(prop, schema)
        if huge is not None:
            cases.append(_with(schema, name, huge, "huge value"))
    for name in required:
        cases.append(valid_arguments(schema).map(partial(_without, name)))
    unknown = _WORDS.filter(lambda word: word not in properties)
    cases.append(
        st.tuples(valid_arguments(schema), unknown, st.integers()).map(
            lambda drawn: ("unknown property", {**drawn[0], drawn[1]: drawn[2]})
        )
    )
    return st.one_of(cases).filter(lambda case: not validator.is_valid(case[1]))


def _without(name: str, arguments: Arguments) -> InvalidCase:
    return f"missing {name}", {key: value for key, value in arguments.items() if key != name}


def _with(
    schema: Mapping[str, Any], name: str, value: st.SearchStrategy[Any], kind: str
) -> st.SearchStrategy[InvalidCase]:
    return st.tuples(valid_arguments(schema), value).map(
        lambda drawn: (f"{kind}: {name}", {**drawn[0], name: drawn[1]})
    )
