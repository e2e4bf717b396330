"""The errors a tool call can end in, each with a stable machine-readable code.

Tool handlers and the layers under them raise these; the tool catalog turns them into an MCP
tool result with `isError: true`, the code, and a message a person (or an assistant) can act
on. Anything else a handler raises is a bug: the caller gets `internal_error` with no detail
and the traceback goes to the log, never to the client.

| code                  | meaning                                                     |
| --------------------- | ----------------------------------------------------------- |
| invalid_argument      | the arguments break the tool's contract (type, range, name) |
| not_found             | the thing named does not exist                              |
| conflict              | the request contradicts an earlier one (idempotency key)    |
| upstream_unavailable  | the system of record cannot be reached or timed out         |
| upstream_error        | the system of record answered with an error                 |
| unauthorized          | the service's own credentials were refused upstream         |
| internal_error        | a bug; details are in the server log                        |
"""

from __future__ import annotations

from typing import Any, ClassVar


class ToolFailure(Exception):
    """A tool call failed in a way the caller should be told about."""

    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The wire form: `{"code": ..., "message": ..., "details": {...}}`."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidArgument(ToolFailure):
    code = "invalid_argument"


class NotFound(ToolFailure):
    code = "not_found"


class Conflict(ToolFailure):
    code = "conflict"


class UpstreamUnavailable(ToolFailure):
    code = "upstream_unavailable"


class UpstreamError(ToolFailure):
    code = "upstream_error"


class Unauthorized(ToolFailure):
    code = "unauthorized"


ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        InvalidArgument,
        NotFound,
        Conflict,
        UpstreamUnavailable,
        UpstreamError,
        Unauthorized,
        ToolFailure,
    )
)
