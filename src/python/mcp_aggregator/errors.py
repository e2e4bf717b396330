"""The aggregator's errors: every way it ends a request itself, and how each reaches the client.

    AggregatorError                 base; `outcome` is the metrics label of the request
    ├── RequestRejected             the request is malformed: a JSON-RPC error
    │   ├── ParseError              -32700  the body is not JSON (or nested too deeply)
    │   ├── InvalidRequest          -32600  not a JSON-RPC request of a shape MCP allows
    │   ├── InvalidParams           -32602  params missing or of the wrong type
    │   │   └── UnknownTarget               no tool, prompt or resource of that name
    │   └── NotSupported            -32601  a method the target's upstream cannot serve
    ├── AccessDenied                HTTP 403 `insufficient_scope`: the token may not call it
    ├── SessionGone                 HTTP 404: the client's upstream session ended; initialize
    ├── ToolResultError             answered as a tool result with isError and a code
    │   ├── ToolQuarantined         `tool_quarantined`: its definition does not match its pin
    │   ├── DelegationRefused       `unauthorized`: Entra refused the on-behalf-of exchange
    │   │   ├── ConsentRequired     `consent_required`: the user has not consented
    │   │   └── InteractionRequired `interaction_required`: the user must sign in again
    │   └── UpstreamFailure         the owner could not answer
    │       ├── UpstreamUnavailable `upstream_unavailable`: down, unreachable
    │       │   └── UpstreamTimeout no answer within the call timeout
    │       └── UpstreamBroken      `upstream_error`: it answered with an error or garbage
    └── NotReady                    readiness: collisions, or no upstream available

Why a tool result for upstream failures and a JSON-RPC error for malformed requests: an
assistant reads a tool result and can act on it ("the tickets system is down, try later"),
while a malformed request is the client's bug, which a JSON-RPC error reports to its
developer. Messages name what was wrong and what is allowed, and never carry an internal URL,
a credential or an upstream's response body.
"""

from __future__ import annotations

from typing import ClassVar

from mcp_common.health import CheckFailed


class AggregatorError(Exception):
    """A request the aggregator ends itself; `str(error)` is safe to show the caller."""

    outcome: ClassVar[str] = "error"


class RequestRejected(AggregatorError):
    jsonrpc_code: ClassVar[int] = -32600
    outcome = "rejected"

    def __init__(self, message: str, *, http_status: int = 200) -> None:
        super().__init__(message)
        self.http_status = http_status


class ParseError(RequestRejected):
    jsonrpc_code = -32700


class InvalidRequest(RequestRejected):
    jsonrpc_code = -32600


class InvalidParams(RequestRejected):
    jsonrpc_code = -32602


class UnknownTarget(InvalidParams):
    outcome = "unknown"


class NotSupported(RequestRejected):
    jsonrpc_code = -32601
    outcome = "unsupported"


class SessionGone(AggregatorError):
    """A session-based upstream ended the session opened for this client: the client must
    initialize again (HTTP 404, as for an unknown session)."""

    outcome = "session_gone"


class AccessDenied(AggregatorError):
    """The caller's token lacks the roles or scopes a tool needs."""

    outcome = "denied"

    def __init__(self, message: str, *, scopes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.scopes = scopes


class ToolResultError(AggregatorError):
    """Ends a call with a tool result (isError) carrying `code`, which an assistant can read."""

    code: ClassVar[str] = "upstream_error"


class ToolQuarantined(ToolResultError):
    code = "tool_quarantined"
    outcome = "quarantined"


class DelegationRefused(ToolResultError):
    """The client's token could not be exchanged for the upstream (on-behalf-of): the call is
    not made, rather than made with the aggregator's own rights."""

    code = "unauthorized"
    outcome = "delegation_refused"


class ConsentRequired(DelegationRefused):
    code = "consent_required"


class InteractionRequired(DelegationRefused):
    code = "interaction_required"


class UpstreamFailure(ToolResultError):
    code = "upstream_error"


class UpstreamUnavailable(UpstreamFailure):
    code = "upstream_unavailable"
    outcome = "upstream_unavailable"


class UpstreamTimeout(UpstreamUnavailable):
    """It took the request and did not answer within the call timeout."""

    outcome = "timeout"


class UpstreamBroken(UpstreamFailure):
    code = "upstream_error"
    outcome = "upstream_error"


class NotReady(AggregatorError, CheckFailed):
    """The aggregator should not receive traffic yet (its readiness check fails); a
    `CheckFailed`, so `/health/ready` shows its message."""
