"""The wire shapes the aggregator reads and writes itself (SseEvents: upstream_sessions_test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_aggregator.errors import INTERNAL_ERROR, InvalidParams, InvalidRequest, ParseError
from mcp_aggregator.wire import (
    answer_outcome,
    failure_message,
    forwarded_outcome,
    is_modern,
    last_answer,
    parse_message,
    renamed,
    safe_id,
    sse_event,
)
from mcp_common.errors import ERROR_META_KEY

OK = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "isError": False}}
TOOL_ERROR = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "isError": True}}
ERROR = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "bad"}}
PROGRESS = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": "a-1", "method": "tools/call", "params": {"name": "x"}},
        {"jsonrpc": "2.0", "id": 0, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized", "params": {"_meta": {}}},
        [{"jsonrpc": "2.0", "id": 1, "method": "ping"}],  # a batch: the SDK answers it
        OK,  # a client's answer to a relayed request
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": [[[[1]]]]}},
    ],
)
def test_accepted_shapes_come_back_as_sent(message: Any) -> None:
    assert parse_message(json.dumps(message).encode()) == message


@pytest.mark.parametrize(
    ("message", "error", "says"),
    [
        ({"id": 1, "method": 5}, InvalidRequest, "method must be a string"),
        ({"id": None, "method": "ping"}, InvalidRequest, "id must be a string or an integer"),
        ({"id": True, "method": "ping"}, InvalidRequest, "id must be a string or an integer"),
        ({"id": 1.5, "method": "ping"}, InvalidRequest, "id must be a string or an integer"),
        ({"id": 1, "method": "ping", "params": "x"}, InvalidParams, "params must be an object"),
        ({"id": 1, "method": "ping", "params": {"_meta": 1}}, InvalidParams, "params._meta must"),
    ],
)
def test_wrong_shapes_are_refused_by_class_with_400(
    message: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says) as caught:
        parse_message(json.dumps(message).encode())
    assert getattr(caught.value, "http_status", None) == 400


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"jsonrpc": "2.0", "id": 1,', "the request body is not valid JSON"),
        (b'{"id": 1, "method": "caf\xe9"}', "the request body is not valid JSON"),
        (("[" * 100 + "]" * 100).encode(), r"the JSON nests too deeply \(at most 64 levels\)"),
        # Deeper than Python's JSON parser itself goes (it raises RecursionError).
        (("[" * 100_000 + "]" * 100_000).encode(), r"nests too deeply \(at most 64 levels\)"),
    ],
    ids=["truncated", "not utf-8", "too deep", "far too deep"],
)
def test_unreadable_bodies_are_parse_errors_with_400(body: bytes, says: str) -> None:
    with pytest.raises(ParseError, match=says) as caught:
        parse_message(body)
    assert caught.value.http_status == 400


def test_only_a_valid_id_is_echoed_in_an_error() -> None:
    assert [safe_id({"id": v}) for v in ("a", 0, 12)] == ["a", 0, 12]
    assert [safe_id({"id": v}) for v in (True, 1.5, None, [1], {"a": 1})] == [None] * 5
    assert safe_id(["not", "an", "object"]) is None
    assert safe_id({}) is None


def test_a_failed_tool_call_is_a_tool_result_an_assistant_can_read() -> None:
    legacy = failure_message(3, "tools/call", "upstream_unavailable", "tickets is down", False)
    modern = failure_message(3, "tools/call", "upstream_unavailable", "tickets is down", True)
    assert legacy["id"] == 3
    assert "error" not in legacy
    assert legacy["result"]["isError"] is True
    assert legacy["result"]["content"] == [
        {"type": "text", "text": "upstream_unavailable: tickets is down"}
    ]
    assert legacy["result"]["_meta"][ERROR_META_KEY] == {"code": "upstream_unavailable"}
    assert "resultType" not in legacy["result"], "unknown to 2025-11-25 clients"
    assert modern["result"]["resultType"] == "complete"


def test_other_routed_methods_fail_with_a_jsonrpc_error_carrying_the_code() -> None:
    for modern in (False, True):
        answer = failure_message("r", "resources/read", "upstream_error", "data broke", modern)
        assert answer == {
            "jsonrpc": "2.0",
            "id": "r",
            "error": {
                "code": INTERNAL_ERROR,
                "message": "data broke",
                "data": {"code": "upstream_error"},
            },
        }


def test_only_versions_newer_than_the_handshake_ones_are_modern() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "headers": list(headers)}

    assert not is_modern(scope())
    assert not is_modern(scope((b"mcp-protocol-version", b"2025-11-25")))
    assert is_modern(scope((b"mcp-protocol-version", b"2026-07-28")))


def test_the_last_answer_is_found_at_the_end_of_json_or_sse() -> None:
    assert last_answer(json.dumps(ERROR).encode()) == ERROR
    stream = sse_event(PROGRESS) + sse_event(TOOL_ERROR)
    assert stream.startswith(b"event: message\ndata: ")
    assert last_answer(stream) == TOOL_ERROR
    # Only the tail is kept: the first event may be cut; a later notification is no answer.
    assert last_answer(stream[30:] + sse_event(PROGRESS)) == TOOL_ERROR
    assert last_answer(sse_event(TOOL_ERROR)[30:]) is None
    assert last_answer(b'data:{"jsonrpc":"2.0","id":1,"result":{}}\n\n') == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {},
    }
    assert last_answer(sse_event(PROGRESS)) is None
    assert last_answer(b"data: {not json\n\n") is None


def test_the_outcome_of_an_answer_and_of_a_forwarded_response() -> None:
    assert [answer_outcome(m) for m in (OK, TOOL_ERROR, ERROR, None)] == [
        "ok",
        "tool_error",
        "error",
        "error",
    ]
    assert forwarded_outcome(sse_event(PROGRESS) + sse_event(OK), 200) == "ok"
    assert forwarded_outcome(json.dumps(TOOL_ERROR).encode(), 200) == "tool_error"
    assert forwarded_outcome(json.dumps(OK).encode(), 502) == "error", "the status decides"
    assert forwarded_outcome(b"", 200) == "error", "no answer at all"


def test_a_target_is_renamed_to_what_its_upstream_knows_and_nothing_else_changes() -> None:
    params = {"name": "users_get_user", "arguments": {"id": "u-1"}, "_meta": {"k": "v"}}
    assert renamed("tools/call", params, "get_user") == {**params, "name": "get_user"}
    assert params["name"] == "users_get_user", "the client's params are not changed"
    read = renamed("resources/read", {"uri": "db://sales/rows"}, "db://sales/rows")
    assert read == {"uri": "db://sales/rows"}
    prompt = {"ref": {"type": "ref/prompt", "name": "users_greeting"}, "argument": {"name": "a"}}
    assert renamed("completion/complete", prompt, "greeting") == {
        "ref": {"type": "ref/prompt", "name": "greeting"},
        "argument": {"name": "a"},
    }
    assert prompt["ref"] == {"type": "ref/prompt", "name": "users_greeting"}
    resource = {"ref": {"type": "ref/resource", "uri": "db://{t}/rows"}, "argument": {}}
    renamed_ref = renamed("completion/complete", resource, "db://{table}/rows")["ref"]
    assert renamed_ref == {"type": "ref/resource", "uri": "db://{table}/rows"}
