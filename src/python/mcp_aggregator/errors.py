"""The aggregator's errors: every way it ends a request itself, and how each reaches the client.

    AggregatorException             the root: everything the aggregator raises of its own
    ├── ConfigError                 a registry, policy, pins or keys file is invalid
    ├── ListingTooLarge             an upstream listed more than the aggregator keeps
    ├── SessionExpired              an upstream forgot the session (handled inside the relay)
    └── AggregatorError             ends a request; `outcome` is its metrics label
        ├── RequestRejected         the request is malformed: a JSON-RPC error
        │   ├── ParseError              -32700  the body is not JSON (or nested too deeply)
        │   ├── InvalidRequest          -32600  not a JSON-RPC request of a shape MCP allows
        │   ├── InvalidParams           -32602  params missing or of the wrong type
        │   │   └── UnknownTarget               no tool, prompt or resource of that name
        │   └── NotSupported            -32601  a method the target's upstream cannot serve
        ├── AccessDenied            HTTP 403 `insufficient_scope` (-32003): the token may not call it
        ├── SessionGone             HTTP 404 (-32001): the client's upstream session ended; initialize
        ├── AnswerRefused           a client's answer to a relayed request that was not delivered
        │   ├── UnknownRequest      HTTP 404 `unknown_request`: it answers nothing relayed to it
        │   └── AnswerUndelivered   HTTP 502 `upstream_unavailable`: its upstream is unavailable
        ├── ToolResultError         answered as a tool result with isError and a code
        │   ├── ToolQuarantined         `tool_quarantined`: its definition does not match its pin
        │   ├── DelegationRefused       `unauthorized`: Entra refused the on-behalf-of exchange
        │   │   ├── ConsentRequired     `consent_required`: the user has not consented
        │   │   └── InteractionRequired `interaction_required`: the user must sign in again
        │   └── UpstreamFailure         the owner could not answer
        │       ├── UpstreamUnavailable `upstream_unavailable`: down, unreachable
        │       │   └── UpstreamTimeout no answer within the call timeout
        │       └── UpstreamBroken      `upstream_error`: it answered with an error or garbage
        └── NotReady                readiness: collisions, or no upstream available

The tool-result codes are `mcp_common.errors`' codes (the domain servers' own), so a client
reads one vocabulary whoever failed. The JSON-RPC codes are the constants below; nothing else
in the package writes one as a literal.

Why a tool result for upstream failures and a JSON-RPC error for malformed requests: an
assistant reads a tool result and can act on it ("the tickets system is down, try later"),
while a malformed request is the client's bug, which a JSON-RPC error reports to its
developer. Messages name what was wrong and what is allowed, and never carry an internal URL,
a credential or an upstream's response body.

This module imports nothing of the services' third-party packages: the registry parser
(`config`), which raises `ConfigError`, also runs in the `deploy` resolve (see BUILD).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from mcp_common import errors as common
from mcp_common.errors import CheckFailed

# JSON-RPC error codes the aggregator answers with.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SESSION_NOT_FOUND = -32001
"""The session the request names is gone (with HTTP 404, as the spec has for sessions)."""
ACCESS_DENIED = -32003
"""The token may not call the target (with HTTP 403 and a step-up challenge)."""

Outcome = Literal[
    "ok",
    "tool_error",
    "error",
    "denied",
    "rejected",
    "unknown",
    "unsupported",
    "session_gone",
    "quarantined",
    "delegation_refused",
    "upstream_unavailable",
    "upstream_error",
    "timeout",
    "cancelled",
]
"""The `outcome` label of `mcp_aggregator_requests`: how a routed request ended."""


class AggregatorException(Exception):
    """The root of the aggregator's own exceptions."""


class ConfigError(AggregatorException):
    """A configuration file is invalid; the message names the file, the entry and the field."""


class ListingTooLarge(AggregatorException):
    """An upstream listed more than the aggregator keeps; the message names it and the limit."""


class SessionExpired(AggregatorException):
    """The upstream no longer knows the session (the relay re-opens it or ends the request)."""


class AggregatorError(AggregatorException):
    """A request the aggregator ends itself; `str(error)` is safe to show the caller."""

    outcome: ClassVar[Outcome] = "error"
    jsonrpc_code: ClassVar[int] = INTERNAL_ERROR
    http_status: int = 200


class RequestRejected(AggregatorError):
    jsonrpc_code = INVALID_REQUEST
    outcome: ClassVar[Outcome] = "rejected"

    def __init__(self, message: str, *, http_status: int = 200) -> None:
        super().__init__(message)
        self.http_status = http_status


class ParseError(RequestRejected):
    jsonrpc_code = PARSE_ERROR


class InvalidRequest(RequestRejected):
    jsonrpc_code = INVALID_REQUEST


class InvalidParams(RequestRejected):
    jsonrpc_code = INVALID_PARAMS


class UnknownTarget(InvalidParams):
    outcome: ClassVar[Outcome] = "unknown"


class NotSupported(RequestRejected):
    jsonrpc_code = METHOD_NOT_FOUND
    outcome: ClassVar[Outcome] = "unsupported"


class SessionGone(AggregatorError):
    """A session-based upstream ended the session opened for this client: the client must
    initialize again (HTTP 404, as for an unknown session)."""

    outcome: ClassVar[Outcome] = "session_gone"
    jsonrpc_code = SESSION_NOT_FOUND
    http_status = 404


class AccessDenied(AggregatorError):
    """The caller's token lacks the roles or scopes a tool needs."""

    outcome: ClassVar[Outcome] = "denied"
    jsonrpc_code = ACCESS_DENIED
    http_status = 403

    def __init__(self, message: str, *, scopes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.scopes = scopes


class AnswerRefused(AggregatorError):
    """A client's answer to a server-to-client request was not delivered; answered with
    HTTP `http_status` and `{"error": code}` (no JSON-RPC: an answer gets no answer)."""

    code: ClassVar[str] = "unknown_request"
    http_status = 404


class UnknownRequest(AnswerRefused):
    """It answers no request relayed to this caller (or its upstream session has ended)."""


class AnswerUndelivered(AnswerRefused):
    """The upstream whose request it answers is unavailable."""

    code = common.UpstreamUnavailable.code
    http_status = 502


class ToolResultError(AggregatorError):
    """Ends a call with a tool result (isError) carrying `code`, which an assistant can read."""

    code: ClassVar[str] = common.UpstreamError.code


class ToolQuarantined(ToolResultError):
    code = "tool_quarantined"
    outcome: ClassVar[Outcome] = "quarantined"


class DelegationRefused(ToolResultError):
    """The client's token could not be exchanged for the upstream (on-behalf-of): the call is
    not made, rather than made with the aggregator's own rights."""

    code = common.Unauthorized.code
    outcome: ClassVar[Outcome] = "delegation_refused"


class ConsentRequired(DelegationRefused):
    code = common.ConsentRequired.code


class InteractionRequired(DelegationRefused):
    code = common.InteractionRequired.code


class UpstreamFailure(ToolResultError):
    code = common.UpstreamError.code


class UpstreamUnavailable(UpstreamFailure):
    """The owner is down or unreachable; `upstream` names it when the error is about one."""

    code = common.UpstreamUnavailable.code
    outcome: ClassVar[Outcome] = "upstream_unavailable"

    def __init__(self, message: str, *, upstream: str = "") -> None:
        super().__init__(message)
        self.upstream = upstream


class UpstreamTimeout(UpstreamUnavailable):
    """It took the request and did not answer within the call timeout."""

    outcome: ClassVar[Outcome] = "timeout"


class UpstreamBroken(UpstreamFailure):
    code = common.UpstreamError.code
    outcome: ClassVar[Outcome] = "upstream_error"


class NotReady(AggregatorError, CheckFailed):
    """The aggregator should not receive traffic yet (its readiness check fails); a
    `CheckFailed`, so `/health/ready` shows its message."""
