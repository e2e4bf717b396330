"""The ASGI helpers, called as an ASGI server would call them: messages in, messages out."""

from __future__ import annotations

import json

import anyio
import pytest
from starlette.types import Message, Receive

from mcp_common.asgi import (
    end_body,
    header_value,
    read_replayed_body,
    replay,
    send_body,
    send_chunk,
    send_json,
    start_event_stream,
    until_disconnect,
)

pytestmark = pytest.mark.anyio


class Client:
    """One side of an ASGI conversation: what the client sends, and what it got back."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.received += 1
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def _request(body: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


DISCONNECT: Message = {"type": "http.disconnect"}


def test_header_value_is_the_first_of_that_name_or_none() -> None:
    scope = {"headers": [(b"host", b"a.example"), (b"x-name", b"caf\xe9"), (b"host", b"b")]}
    assert header_value(scope, b"host") == "a.example"
    assert header_value(scope, b"x-name") == "café", "header bytes are latin-1"
    assert header_value(scope, b"origin") is None


async def test_send_json_declares_type_and_length_and_adds_headers() -> None:
    client = Client()
    body = {"error": "rate_limited", "error_description": "wait: ü"}
    await send_json(client.send, 429, body, [(b"retry-after", b"3")])
    start, sent_body = client.sent
    headers = dict(start["headers"])
    assert start["status"] == 429
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(sent_body["body"])).encode()
    assert headers[b"retry-after"] == b"3"
    assert json.loads(sent_body["body"]) == body
    assert not sent_body.get("more_body", False), "the answer is complete"


async def test_send_body_answers_whole_with_its_type() -> None:
    client = Client()
    await send_body(client.send, 404, b"text/plain", b"no such session")
    start, sent_body = client.sent
    assert start["status"] == 404
    assert (b"content-type", b"text/plain") in start["headers"]
    assert (b"content-length", b"15") in start["headers"]
    assert sent_body["body"] == b"no such session"


async def test_an_event_stream_is_unbuffered_and_ends_with_an_empty_last_part() -> None:
    client = Client()
    await start_event_stream(client.send)
    await send_chunk(client.send, b"data: one\n\n")
    await send_chunk(client.send, b"data: two\n\n")
    await end_body(client.send)
    start, *parts = client.sent
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"content-type"] == b"text/event-stream"
    assert headers[b"cache-control"] == b"no-cache, no-transform"
    assert headers[b"x-accel-buffering"] == b"no"
    assert [part["more_body"] for part in parts] == [True, True, False]
    assert b"".join(part["body"] for part in parts) == b"data: one\n\ndata: two\n\n"


async def test_until_disconnect_ignores_what_else_the_client_sends() -> None:
    client = Client(_request(b"late"), _request(b""), DISCONNECT, _request(b"never read"))
    with anyio.fail_after(5):
        await until_disconnect(client.receive)
    assert client.received == 3


async def test_replay_gives_the_body_once_then_what_the_client_sends() -> None:
    client = Client(DISCONNECT)
    receive: Receive = replay(b'{"jsonrpc": "2.0"}', client.receive)
    assert await receive() == _request(b'{"jsonrpc": "2.0"}')
    assert client.received == 0, "the body already read is not asked for again"
    assert await receive() == DISCONNECT


async def test_read_replayed_body_reads_a_replayed_or_a_chunked_body_whole() -> None:
    replayed = await read_replayed_body(replay(b"whole", Client().receive))
    chunked = Client(_request(b"one ", more=True), _request(b"two"), DISCONNECT)
    assert replayed == b"whole"
    assert await read_replayed_body(chunked.receive) == b"one two"
    assert chunked.incoming == [DISCONNECT], "it stops at the last part"
