"""The errors a tool call can end in, each with a stable machine-readable code.

Tool handlers and the layers under them raise these; the tool catalog turns them into an MCP
tool result with `isError: true`, the code, and a message a person (or an assistant) can act
on. Anything else a handler raises is a bug: the caller gets `internal_error` with no detail
and the traceback goes to the log, never to the client.

## The wire shape of a tool error

    {"isError": true,
     "content": [{"type": "text", "text": "not_found: no user with id 'u-9999'"}],
     "_meta": {"mcp-platform/error": {"code": "not_found"}}}

- The message is the text content, `<code>: <message>`: every client shows text content, and
  an assistant reads it. The code leads, so a person sees it too.
- The code is machine-readable in the result's `_meta` under `ERROR_META_KEY` (with `details`
  when there are any). `_meta` is the protocol's place for data outside the result schema;
  the key carries a prefix of our own, as the spec asks of implementation keys.
- No `structuredContent`. A tool's `outputSchema` describes its successful result, and
  mainstream clients check `structuredContent` against it whatever `isError` says: the
  official TypeScript SDK client (1.x, which most MCP hosts are built on) then replaces our
  message with "Structured content does not match the tool's output schema". Putting the
  error under `structuredContent` would need every tool's schema to allow it, which would
  make each published contract lie about its results.

| code                  | meaning                                                     |
| --------------------- | ----------------------------------------------------------- |
| invalid_argument      | the arguments break the tool's contract (type, range, name) |
| not_found             | the thing named does not exist                              |
| conflict              | the request contradicts an earlier one (idempotency key)    |
| upstream_unavailable  | the system of record cannot be reached or timed out         |
| upstream_error        | the system of record answered with an error                 |
| unauthorized          | the service's own credentials were refused upstream, or an on-behalf-of exchange was refused for another reason |
| forbidden             | the end user may not do this (e.g. a dataset their roles do not open); the message names the roles needed |
| consent_required      | the end user (or an admin) has not consented to the on-behalf-of access; the client must ask them interactively |
| interaction_required  | Entra wants the end user to sign in again (MFA, a changed policy) before acting for them |
| internal_error        | a bug; details are in the server log                        |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

ERROR_META_KEY = "mcp-platform/error"
"""The key, in a failed tool result's `_meta`, of `{"code": ..., "details": {...}}`."""


class CheckFailed(Exception):
    """Raised by a readiness check to report a dependency problem in its own words, which
    `/health/ready` shows to anyone: no internal URLs, credentials or upstream bodies.
    (Here rather than in `health`, so that code without the web stack can raise it.)"""


class ToolFailure(Exception):
    """A tool call failed in a way the caller should be told about."""

    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_result(self) -> dict[str, Any]:
        """The `tools/call` result on the wire (see the module docstring)."""
        return error_result(self.code, self.message, self.details)


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


class Forbidden(ToolFailure):
    """The end user is known, and may not do this; the message says what would let them."""

    code = "forbidden"


class ConsentRequired(Unauthorized):
    """Entra refused an on-behalf-of exchange: nobody consented to it (AADSTS65001)."""

    code = "consent_required"


class InteractionRequired(Unauthorized):
    """Entra refused an on-behalf-of exchange until the user signs in again (AADSTS50076...)."""

    code = "interaction_required"


ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        InvalidArgument,
        NotFound,
        Conflict,
        UpstreamUnavailable,
        UpstreamError,
        Unauthorized,
        Forbidden,
        ConsentRequired,
        InteractionRequired,
        ToolFailure,
    )
)


def error_result(
    code: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A failed `tools/call` result on the wire (camelCase): text, `isError`, code in `_meta`."""
    meta: dict[str, Any] = {"code": code}
    if details:
        meta["details"] = dict(details)
    return {
        "content": [{"type": "text", "text": f"{code}: {message}"}],
        "isError": True,
        "_meta": {ERROR_META_KEY: meta},
    }


@dataclass(frozen=True)
class ReportedError:
    """A tool error as a client reads it back from a result."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def read_error(
    is_error: bool | None, meta: Mapping[str, Any] | None, texts: list[str]
) -> ReportedError | None:
    """The platform error in a result (`is_error`, its `_meta`, its text blocks), or None when
    the result is not a failure in the platform's shape."""
    if not is_error or not isinstance(meta, Mapping):
        return None
    coded = meta.get(ERROR_META_KEY)
    if not isinstance(coded, Mapping) or not isinstance(coded.get("code"), str):
        return None
    code: str = coded["code"]
    text = "\n".join(texts)
    message = text[len(code) + 2 :] if text.startswith(f"{code}: ") else text
    details = coded.get("details")
    return ReportedError(code, message, dict(details) if isinstance(details, Mapping) else {})
