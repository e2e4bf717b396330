"""The one relay every event stream goes through: how each way a stream ends reaches the client,
and JSON answers read whole and checked (from a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import UpstreamBroken
from mcp_aggregator.streaming import (
    MAX_JSON_ANSWER,
    Ending,
    read_answer,
    relay,
    stream_answer,
)
from mcp_aggregator.upstream import Upstream
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_tickets"}}


class Client:
    """The client's side of one ASGI answer: what it was sent, and whether it has gone."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gone = anyio.Event()

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def ended(self) -> bool:
        last = self.sent[-1]
        return last["type"] == "http.response.body" and not last.get("more_body", False)


class Events:
    """Events from a list; then it ends, breaks, or waits forever (as an idle upstream)."""

    def __init__(self, chunks: list[bytes], then: str = "end", answer: Any = None) -> None:
        self._chunks = chunks
        self._then = then
        self.answer = answer
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self._chunks:
                yield chunk
            if self._then == "break":
                raise aiohttp.ClientPayloadError("Response payload is not completed")
            if self._then == "wait":
                await anyio.sleep_forever()
        finally:
            self.closed = True


def upstream(call_timeout: float = 30.0) -> Upstream:
    config = UpstreamConfig("tickets", "http://127.0.0.1:9/mcp", call_timeout=call_timeout)
    return Upstream(config, unavailable_after=10)


async def test_events_are_sent_in_order_until_they_run_out() -> None:
    client = Client()
    with anyio.fail_after(10):
        relayed = await relay(client.send, client.receive, Events([b"a", b"b"]))
    assert relayed.ending is Ending.COMPLETE
    assert client.body == b"ab"


async def test_a_broken_upstream_ends_the_relay_with_the_kind_of_failure() -> None:
    client = Client()
    with anyio.fail_after(10):
        relayed = await relay(client.send, client.receive, Events([b"a"], then="break"))
    assert relayed.ending is Ending.BROKEN
    assert relayed.error == "ClientPayloadError"
    assert client.body == b"a"


async def test_a_client_that_goes_away_ends_the_relay_and_closes_the_events() -> None:
    client = Client()
    events = Events([b"a"], then="wait")
    side_ran = anyio.Event()

    async def beside() -> None:
        side_ran.set()
        await anyio.sleep_forever()

    async def leave() -> None:
        await side_ran.wait()
        client.gone.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(leave)
            relayed = await relay(client.send, client.receive, events, beside=[beside])
    assert relayed.ending is Ending.DISCONNECTED
    assert events.closed, "the upstream's stream is let go with the client"


async def test_a_client_closing_mid_write_is_a_disconnect_not_a_failure() -> None:
    async def send(message: Message) -> None:
        raise OSError("connection closed")

    with anyio.fail_after(10):
        relayed = await relay(send, Client().receive, Events([b"a"], then="wait"))
    assert relayed.ending is Ending.DISCONNECTED


async def test_the_deadline_ends_an_idle_stream() -> None:
    client = Client()
    with anyio.fail_after(10):
        relayed = await relay(client.send, client.receive, Events([], then="wait"), timeout=0.1)
    assert relayed.ending is Ending.TIMED_OUT


def _last_event(body: bytes) -> dict[str, Any]:
    data = [line for line in body.decode().splitlines() if line.startswith("data: ")]
    return dict(json.loads(data[-1][6:]))


async def test_an_answered_stream_ends_with_the_answer_s_outcome() -> None:
    client = Client()
    answer = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "isError": True}}
    events = Events([b"event: message\ndata: {}\n\n"], answer=answer)
    with anyio.fail_after(10):
        outcome = await stream_answer(
            client.send, client.receive, CALL, upstream(), events, modern=False
        )
    assert outcome == "tool_error"
    assert client.sent[0]["headers"][0] == (b"content-type", b"text/event-stream")
    assert client.ended


@pytest.mark.parametrize(
    ("then", "timeout", "outcome", "says"),
    [
        ("end", 30.0, "upstream_error", "ended its answer without a result"),
        ("break", 30.0, "upstream_error", "broke off its answer before it was complete"),
        ("wait", 0.1, "timeout", "did not finish within 0.1s"),
    ],
)
async def test_a_stream_without_its_answer_still_answers_the_client(
    then: str, timeout: float, outcome: str, says: str
) -> None:
    client = Client()
    with anyio.fail_after(10):
        got = await stream_answer(
            client.send,
            client.receive,
            CALL,
            upstream(timeout),
            Events([b": ping\n\n"], then=then),
            modern=True,
        )
    assert got == outcome
    failure = _last_event(client.body)
    assert failure["id"] == 7
    assert failure["result"]["isError"] is True
    assert failure["result"]["resultType"] == "complete"
    assert says in failure["result"]["content"][0]["text"]
    assert client.ended


async def test_a_client_gone_mid_answer_is_cancelled() -> None:
    client = Client()
    client.gone.set()
    with anyio.fail_after(10):
        outcome = await stream_answer(
            client.send, client.receive, CALL, upstream(), Events([], then="wait"), modern=False
        )
    assert outcome == "cancelled"


async def _answers(request: Request) -> Response:
    kind = request.path_params["kind"]
    bodies = {
        "ok": json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}).encode(),
        "html": b"<html>502 Bad Gateway</html>",
        "not-jsonrpc": b'{"id": 1, "result": {}}',
        "huge": b" " * (MAX_JSON_ANSWER + 1),
    }
    return Response(bodies[kind], media_type="application/json")


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("html", "not a JSON-RPC message"),
        ("not-jsonrpc", "not a JSON-RPC message"),
        ("huge", f"more than {MAX_JSON_ANSWER} bytes"),
    ],
)
async def test_json_answers_are_read_whole_and_checked(kind: str, says: str) -> None:
    app = Starlette(routes=[Route("/{kind}", _answers)])
    async with serve(app) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/ok") as response:
            body, message = await read_answer(response, upstream())
        assert message == {"jsonrpc": "2.0", "id": 1, "result": {}}
        assert json.loads(body) == message
        async with http.get(f"{url}/{kind}") as response:
            with pytest.raises(UpstreamBroken, match=says) as caught:
                await read_answer(response, upstream())
        assert "'tickets'" in str(caught.value)
