from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from mcp_common.request_body import WholeBodyFirst

pytestmark = pytest.mark.anyio

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/mcp", "headers": []}


def _client(messages: list[Message]) -> Receive:
    async def receive() -> Message:
        return messages.pop(0)

    return receive


async def _nothing_sent(message: Message) -> None:
    raise AssertionError(f"nothing should be sent, got {message}")


async def test_a_body_in_chunks_reaches_the_app_whole_and_later_receives_pass_through() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())

    messages: list[Message] = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b" 1}", "more_body": False},
        {"type": "http.disconnect"},
    ]
    await WholeBodyFirst(app)(SCOPE, _client(messages), _nothing_sent)
    assert seen == [
        {"type": "http.request", "body": b'{"a": 1}', "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_a_disconnect_before_the_end_of_the_body_runs_nothing() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run for an incomplete request")

    messages: list[Message] = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    await WholeBodyFirst(app)(SCOPE, _client(messages), _nothing_sent)
