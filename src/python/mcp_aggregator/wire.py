"""JSON-RPC and MCP wire shapes the aggregator writes itself (errors, failure results) or
reads from a forwarded answer (its outcome)."""

from __future__ import annotations

import json
from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from mcp_common import errors

INVALID_PARAMS = -32602
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
# The params key naming each routed method's target, which the `Mcp-Name` header mirrors. A
# completion names its target inside `params.ref` and carries no `Mcp-Name`.
NAME_KEYS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


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


def tool_error(request_id: Any, code: str, message: str, modern: bool) -> Response:
    return JSONResponse(failure_message(request_id, "tools/call", code, message, modern))


def is_modern(scope: Scope) -> bool:
    version = next((v for k, v in scope["headers"] if k == b"mcp-protocol-version"), None)
    return version is not None and version.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS


def forwarded_outcome(tail: bytes, status: int) -> str:
    """ok / tool_error / error from the end of a forwarded response (JSON or SSE)."""
    if status >= 400:
        return "error"
    text = tail.decode("utf-8", errors="replace")
    for line in reversed(text.splitlines()):
        payload = line[5:].strip() if line.startswith("data:") else line.strip()
        if not payload.startswith("{"):
            continue
        try:
            message = json.loads(payload)
        except ValueError:
            continue
        if "error" in message:
            return "error"
        if "result" in message:
            return "tool_error" if message["result"].get("isError") else "ok"
    return "error"


def renamed(method: str, params: dict[str, Any], upstream_name: str) -> dict[str, Any]:
    """`params` with the target named as its upstream knows it (without a tool_prefix)."""
    if method == "completion/complete":
        ref = dict(params["ref"])
        ref["name" if ref.get("type") == "ref/prompt" else "uri"] = upstream_name
        return {**params, "ref": ref}
    return {**params, NAME_KEYS[method]: upstream_name}
