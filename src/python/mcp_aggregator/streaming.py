"""Streaming to the client: the one relay every event stream the aggregator serves goes through.

`relay` pumps events into an open `text/event-stream` answer until one of four things ends
it, and says which (`Ending`): the events run out, reading them fails, the client goes away,
or the deadline passes. Everything else is the caller's:

- the forwarding fast path (`forwarding`) passes an upstream's stream on byte for byte;
- the session relay (`session_relay`) re-writes each event (ids, sealed server requests);
- the notification streams (`notifications`) send list changes and keep-alives, with the
  feeds of per-client upstream sessions running beside them.

`stream_answer` is the relay for the answer to one routed request: when the stream ends
without the answer (cut off, timed out, or simply ended), the client still gets one, a
failure the aggregator writes (`wire.failure_message`), so no request is left unanswered.

`read_answer` is the other shape of answer, a JSON body, read whole and checked to be a
JSON-RPC message before anything reaches the client.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import AsyncIterable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import anyio
from starlette.types import Receive, Send

from mcp_aggregator.errors import Outcome, UpstreamBroken
from mcp_aggregator.transport import TRANSPORT_ERRORS, Phase, describe_error, translated
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.wire import answer_outcome, failure_message, sse_event
from mcp_common.asgi import end_body, send_chunk, start_event_stream, until_disconnect

logger = logging.getLogger(__name__)

MAX_JSON_ANSWER = 16 * 1024 * 1024
"""The largest JSON (not streamed) answer the aggregator relays."""


class Ending(enum.Enum):
    COMPLETE = "complete"
    """The events ran out: the upstream ended its stream, or the answer has passed."""
    BROKEN = "broken"
    """Reading the events failed (the connection broke, an event was too large)."""
    DISCONNECTED = "disconnected"
    """The client went away."""
    TIMED_OUT = "timed_out"
    """The deadline passed first."""


@dataclass(frozen=True)
class Relayed:
    ending: Ending
    error: str = ""
    """With BROKEN, the kind of failure (`transport.describe_error`)."""


async def relay(
    send: Send,
    receive: Receive,
    events: AsyncIterable[bytes],
    *,
    timeout: float | None = None,
    beside: Sequence[Callable[[], Coroutine[Any, Any, Any]]] = (),
) -> Relayed:
    """Send each of `events` as part of the (already started) answer body until one of the
    `Ending`s; `beside` run alongside and are cancelled with it. The body is not ended here."""
    ending = Relayed(Ending.TIMED_OUT)

    async def pump(cancel: anyio.CancelScope) -> None:
        nonlocal ending
        iterator = aiter(events)
        exhausted = False
        try:
            while True:
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    ending, exhausted = Relayed(Ending.COMPLETE), True
                    break
                except (*TRANSPORT_ERRORS, UpstreamBroken) as exc:
                    ending, exhausted = Relayed(Ending.BROKEN, describe_error(exc)), True
                    break
                try:
                    await send_chunk(send, chunk)
                except OSError:  # the client closed the connection mid-write
                    ending = Relayed(Ending.DISCONNECTED)
                    break
        finally:
            # Events left at a `yield` (the client left, or the deadline passed) are closed
            # here, in this task, not later by the garbage collector.
            aclose = getattr(iterator, "aclose", None)
            if not exhausted and aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        cancel.cancel()

    async def watch(cancel: anyio.CancelScope) -> None:
        nonlocal ending
        await until_disconnect(receive)
        ending = Relayed(Ending.DISCONNECTED)
        cancel.cancel()

    with anyio.move_on_after(math.inf if timeout is None else timeout):
        async with anyio.create_task_group() as group:
            group.start_soon(pump, group.cancel_scope)
            group.start_soon(watch, group.cancel_scope)
            for task in beside:
                group.start_soon(task)
    return ending


class AnswerEvents(Protocol):
    """An upstream's event stream as the client is to see it, and its answer once it passed."""

    def __aiter__(self) -> Any: ...

    @property
    def answer(self) -> dict[str, Any] | None: ...


async def stream_answer(
    send: Send,
    receive: Receive,
    request: dict[str, Any],
    upstream: Upstream,
    events: AnswerEvents,
    *,
    modern: bool,
    status: int = 200,
    content_type: bytes = b"text/event-stream",
) -> Outcome:
    """Relay the event stream answering `request` (the client's, with its own id); the outcome.

    When the stream ends without an answer, the client gets the aggregator's failure for it:
    `timeout` when the call timeout passed, `upstream_error` when the stream broke or ended.
    """
    await start_event_stream(send, status, content_type)
    timeout = upstream.config.call_timeout
    relayed = await relay(send, receive, events, timeout=timeout)
    if relayed.ending is Ending.DISCONNECTED:
        return "cancelled"  # closing the upstream request tells a stateless upstream so
    answer = events.answer
    if answer is not None:
        await end_body(send)
        return "error" if status >= 400 else answer_outcome(answer)
    outcome: Outcome
    name = upstream.name
    if relayed.ending is Ending.TIMED_OUT:
        logger.warning("call to %s timed out", name)
        code, outcome = "upstream_unavailable", "timeout"
        text = f"upstream {name!r} did not finish within {timeout:g}s"
    elif relayed.ending is Ending.BROKEN:
        logger.warning("upstream %s broke off its answer: %s", name, relayed.error)
        code, outcome = "upstream_error", "upstream_error"
        text = f"upstream {name!r} broke off its answer before it was complete"
    else:
        logger.warning("upstream %s ended its stream without an answer", name)
        code, outcome = "upstream_error", "upstream_error"
        text = f"upstream {name!r} ended its answer without a result"
    failure = failure_message(request["id"], request["method"], code, text, modern)
    await send_chunk(send, sse_event(failure))
    await end_body(send)
    return outcome


async def read_answer(
    response: aiohttp.ClientResponse, upstream: Upstream
) -> tuple[bytes, dict[str, Any]]:
    """A JSON answer, read whole within the call timeout: its bytes and the message they hold.

    Raises:
        UpstreamTimeout: it did not finish within the call timeout.
        UpstreamBroken: it was cut off, too large, or is not a JSON-RPC message.
    """
    name, timeout = upstream.name, upstream.config.call_timeout
    with translated(name, timeout, Phase.READ), anyio.fail_after(timeout):
        body = await read_bounded(response.content, MAX_JSON_ANSWER)
    if len(body) > MAX_JSON_ANSWER:
        raise UpstreamBroken(
            f"upstream {name!r} answered with more than {MAX_JSON_ANSWER} bytes, the most the "
            "aggregator relays"
        )
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        logger.warning("upstream %s answered with something that is not JSON-RPC", name)
        raise UpstreamBroken(
            f"upstream {name!r} answered with something that is not a JSON-RPC message"
        )
    return body, message


async def read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    """A whole response body, or its first `limit` + 1 bytes when it is longer (so the caller
    can tell). Not `content.read(n)`: aiohttp's read returns what has arrived so far, which for
    a large answer is only part of it."""
    body = bytearray()
    async for chunk in content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            break
    return bytes(body[: limit + 1])
