"""How `mcp-client call` turns words into tool arguments."""

from __future__ import annotations

import pytest

from mcp_client.arguments import parse_arguments
from mcp_client.errors import UsageError


def test_values_are_json_when_they_parse_and_strings_otherwise() -> None:
    words = [
        "limit=5",
        "ratio=0.5",
        "include_details=true",
        "status=null",
        'filters={"region": "EMEA", "units": {"gte": 10}}',
        "tags=[1, 2]",
        "user_id=u-0001",
        "title=VPN down since 9:00",
        "code=0012",
        'quoted="123"',
        "empty=",
        "expr=a=b",
    ]
    assert parse_arguments(words) == {
        "limit": 5,
        "ratio": 0.5,
        "include_details": True,
        "status": None,
        "filters": {"region": "EMEA", "units": {"gte": 10}},
        "tags": [1, 2],
        "user_id": "u-0001",
        "title": "VPN down since 9:00",
        "code": "0012",
        "quoted": "123",
        "empty": "",
        "expr": "a=b",
    }


def test_args_json_is_the_base_and_words_override_it() -> None:
    assert parse_arguments(["limit=3"], '{"limit": 1, "skip": 2}') == {"limit": 3, "skip": 2}


@pytest.mark.parametrize(
    ("words", "args_json", "message"),
    [
        (["limit"], None, "expected key=value, got 'limit'"),
        (["=5"], None, "expected key=value, got '=5'"),
        (["a=1", "a=2"], None, "argument 'a' is given twice"),
        ([], "{not json", "--args is not valid JSON"),
        ([], "[1, 2]", "--args must be a JSON object, got list"),
    ],
)
def test_malformed_arguments_are_usage_errors(
    words: list[str], args_json: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("[", r"\[")):
        parse_arguments(words, args_json)
