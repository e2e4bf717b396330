"""Tool arguments from the command line: `key=value` words and `--args '{...}'`.

A value is decoded as JSON when it is valid JSON (`limit=5`, `include_details=true`,
`filters='{"region": "EMEA"}'`, `status=null`) and taken as a string otherwise
(`user_id=u-0001`, `title=VPN down`); to pass a string that looks like JSON, quote it as
JSON (`code='"123"'`). Words override keys of `--args`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp_client.errors import UsageError


def decode_value(raw: str) -> Any:
    """`raw` as JSON when it parses, else the string itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_arguments(words: Sequence[str], args_json: str | None = None) -> dict[str, Any]:
    """The arguments object of a tool call.

    Raises:
        UsageError: `--args` is not a JSON object, a word has no `=` or an empty key, or a
            key is given twice.
    """
    arguments: dict[str, Any] = {}
    if args_json is not None:
        try:
            decoded = json.loads(args_json)
        except ValueError as exc:
            raise UsageError(f"--args is not valid JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise UsageError(f"--args must be a JSON object, got {type(decoded).__name__}")
        arguments.update(decoded)
    given: set[str] = set()
    for word in words:
        key, sep, raw = word.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {word!r}")
        if key in given:
            raise UsageError(f"argument {key!r} is given twice")
        given.add(key)
        arguments[key] = decode_value(raw)
    return arguments
