"""JSON-RPC and MCP wire shapes the aggregator writes itself (errors, failure results) or
reads from a forwarded answer (its outcome)."""

from __future__ import annotations

import json
from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from mcp_aggregator.errors import (
    INTERNAL_ERROR,
    InvalidParams,
    InvalidRequest,
    Outcome,
    ParseError,
    UpstreamBroken,
)
from mcp_common import errors

# The params key naming each routed method's target, which the `Mcp-Name` header mirrors. A
# completion names its target inside `params.ref` and carries no `Mcp-Name`.
NAME_KEYS = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "resources/subscribe": "uri",
    "resources/unsubscribe": "uri",
}


MAX_EVENT_BYTES = 16 * 1024 * 1024
"""The largest server-sent event the aggregator reads from a session-based upstream."""

MAX_DEPTH = 64
"""How deeply a request's JSON may nest; tool arguments of real tools stay far below it."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def parse_message(body: bytes) -> Any:
    """The JSON-RPC message in `body`, checked for the shapes the front relies on.

    A list (a batch) or a response is returned for the SDK server to answer; a request or
    notification object must have a string `method`, a string or integer `id`, object
    `params` and object `params._meta`.

    Raises:
        ParseError: not JSON, or nested deeper than MAX_DEPTH.
        InvalidRequest: a request object of the wrong shape.
        InvalidParams: params or params._meta not an object.
    """
    try:
        message = json.loads(body)
    except RecursionError as exc:
        raise ParseError(
            f"the JSON nests too deeply (at most {MAX_DEPTH} levels)", http_status=400
        ) from exc
    except ValueError as exc:
        raise ParseError("the request body is not valid JSON", http_status=400) from exc
    if isinstance(message, dict | list) and _depth_exceeds(message, MAX_DEPTH):
        raise ParseError(f"the JSON nests too deeply (at most {MAX_DEPTH} levels)", http_status=400)
    if not isinstance(message, dict) or "method" not in message:
        return message
    if not isinstance(message["method"], str):
        raise InvalidRequest("method must be a string", http_status=400)
    request_id = message.get("id")
    if "id" in message and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        raise InvalidRequest("id must be a string or an integer", http_status=400)
    params = message.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidParams("params must be an object", http_status=400)
    if isinstance(params, dict) and not isinstance(params.get("_meta", {}), dict):
        raise InvalidParams("params._meta must be an object", http_status=400)
    return message


def safe_id(message: Any) -> Any:
    """The request's id when it is a valid one, else None (for error answers)."""
    request_id = message.get("id") if isinstance(message, dict) else None
    return (
        request_id
        if isinstance(request_id, str | int) and not isinstance(request_id, bool)
        else None
    )


def jsonrpc_error(request_id: Any, code: int, message: str, status: int = 200) -> Response:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status)


def error_result(code: str, message: str, modern: bool) -> dict[str, Any]:
    """A tools/call result with isError, shaped like the domain servers' coded errors (text
    `<code>: <message>`, the code in `_meta`; see `mcp_common.errors`)."""
    result = errors.error_result(code, message)
    if modern:
        result["resultType"] = "complete"  # required by 2026-07-28, unknown to older clients
    return result


def failure_message(
    request_id: Any, method: str, code: str, message: str, modern: bool
) -> dict[str, Any]:
    """The JSON-RPC answer when the aggregator, not the upstream, ends a routed request.

    A `tools/call` gets a tool result with isError (an assistant can read and act on it); the
    other routed methods have no error result shape, so they get a JSON-RPC internal error
    whose `data.code` carries the same platform code.
    """
    if method == "tools/call":
        return {"jsonrpc": "2.0", "id": request_id, "result": error_result(code, message, modern)}
    error = {"code": INTERNAL_ERROR, "message": message, "data": {"code": code}}
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def is_modern(scope: Scope) -> bool:
    version = next((v for k, v in scope["headers"] if k == b"mcp-protocol-version"), None)
    return version is not None and version.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS


def last_answer(tail: bytes) -> dict[str, Any] | None:
    """The last JSON-RPC answer (a result or an error) at the end of a response, JSON or SSE."""
    text = tail.decode("utf-8", errors="replace")
    for line in reversed(text.splitlines()):
        payload = line[5:].strip() if line.startswith("data:") else line.strip()
        if not payload.startswith("{"):
            continue
        try:
            message = json.loads(payload)
        except ValueError:
            continue
        if isinstance(message, dict) and ("result" in message or "error" in message):
            return message
    return None


def answer_outcome(message: dict[str, Any] | None) -> Outcome:
    """ok / tool_error / error of a JSON-RPC answer (None: there was none)."""
    if message is None or "error" in message:
        return "error"
    result = message.get("result")
    return "tool_error" if isinstance(result, dict) and result.get("isError") else "ok"


def forwarded_outcome(tail: bytes, status: int) -> Outcome:
    """ok / tool_error / error from the end of a forwarded response (JSON or SSE)."""
    if status >= 400:
        return "error"
    return answer_outcome(last_answer(tail))


def sse_event(message: Any) -> bytes:
    """One server-sent event carrying a JSON-RPC message."""
    return f"event: message\ndata: {json.dumps(message)}\n\n".encode()


def renamed(method: str, params: dict[str, Any], upstream_name: str) -> dict[str, Any]:
    """`params` with the target named as its upstream knows it (without a tool_prefix)."""
    if method == "completion/complete":
        ref = dict(params["ref"])
        ref["name" if ref.get("type") == "ref/prompt" else "uri"] = upstream_name
        return {**params, "ref": ref}
    return {**params, NAME_KEYS[method]: upstream_name}


class SseEvents:
    """Splits a `text/event-stream` body into the data of its events, chunk by chunk."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The data of each event completed by `chunk` (events without data are skipped).

        Raises:
            UpstreamBroken: one event is larger than MAX_EVENT_BYTES.
        """
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        *events, self._buffer = self._buffer.split(b"\n\n")
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise UpstreamBroken("an upstream event is larger than the aggregator accepts")
        found = []
        for event in events:
            data = [
                line[5:].removeprefix(b" ")
                for line in event.split(b"\n")
                if line.startswith(b"data:")
            ]
            if data:
                found.append(b"\n".join(data).decode("utf-8", errors="replace"))
        return found
