"""Reading a session-based upstream's event streams and its "unknown session" answers."""

from __future__ import annotations

import json

import pytest

from mcp_aggregator.errors import UpstreamBroken
from mcp_aggregator.session_relay import upstream_request_id
from mcp_aggregator.upstream_sessions import session_error
from mcp_aggregator.wire import MAX_EVENT_BYTES, SseEvents


def test_events_are_split_across_any_chunking() -> None:
    stream = (
        b": keep-alive\n\n"
        b'event: message\r\ndata: {"a": 1}\r\n\r\n'
        b'id: 7\nevent: message\ndata: {"b":\ndata: 2}\n\n'
        b"retry: 100\n\n"
    )
    for size in (1, 2, 3, 7, len(stream)):
        events = SseEvents()
        found = []
        for start in range(0, len(stream), size):
            found.extend(events.feed(stream[start : start + size]))
        assert [json.loads(data) for data in found] == [{"a": 1}, {"b": 2}], size


def test_an_endless_event_is_refused() -> None:
    events = SseEvents()
    events.feed(b"data: " + b"x" * (MAX_EVENT_BYTES - 6))
    with pytest.raises(UpstreamBroken, match="larger than"):
        events.feed(b"x")


@pytest.mark.parametrize(
    ("status", "body", "expired"),
    [
        (404, b"", True),
        (
            400,
            b'{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}',
            True,
        ),
        (400, b'{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"}}', False),
        (400, b"not json", False),
        (500, b"", False),
    ],
)
def test_unknown_session_answers(status: int, body: bytes, expired: bool) -> None:
    assert session_error(status, body) is expired


def test_upstream_request_ids_keep_clients_apart_and_are_stable() -> None:
    assert upstream_request_id("n1", 1) == upstream_request_id("n1", 1)
    assert upstream_request_id("n1", 1) != upstream_request_id("n2", 1)
    assert upstream_request_id("n1", 1) != upstream_request_id("n1", "1")
