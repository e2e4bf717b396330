"""Who a tool call is for: the calling application and the end user behind it.

A domain server is called by the aggregator (its guard lets no one else through when
auth=entra). Two cases:

- **A delegated token** (`scp`): with on-behalf-of on, the aggregator calls as the user (an
  Entra OBO token for this domain, `azp` the aggregator). The token itself names the user, so
  the end user is the verified caller, and its token is the assertion this domain exchanges in
  turn for its system of record (`mcp_common.delegation`).
- **An app-only token** (the aggregator's own): the aggregator passes the end user's verified
  identity in the request's `_meta` under `PRINCIPAL_META_KEY`; a domain believes it only when
  the request itself came from an authenticated caller that the guard allowed (so never with
  auth=none, where anyone could write it).

`ToolCatalog.call_tool` binds the result for the call; tool code reads it with `end_user()`
(the tickets tools record the reporter from it, the data tool checks dataset roles, the
delegating token source picks the user's token).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_common.auth import ANONYMOUS, PRINCIPAL_META_KEY, Principal
from mcp_common.guard import principal_of


@dataclass(frozen=True)
class EndUser:
    """The end user a trusted caller acts for, as the aggregator verified it."""

    object_id: str
    tenant_id: str
    app_id: str
    roles: frozenset[str]
    scopes: frozenset[str]
    name: str = ""
    assertion: str = field(default="", repr=False, compare=False)
    """The user's token for this service when it came delegated; what on-behalf-of exchanges."""

    @property
    def delegated(self) -> bool:
        """A person (delegated scopes), not an application calling as itself."""
        return bool(self.scopes)

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.object_id}/{self.app_id}"


_END_USER: contextvars.ContextVar[EndUser | None] = contextvars.ContextVar(
    "mcp_end_user", default=None
)


def end_user() -> EndUser | None:
    """The end user of the tool call being handled, when a trusted caller named one."""
    return _END_USER.get()


def caller_of(ctx: Any) -> Principal:
    """The authenticated caller of an MCP request (the guard's principal), else ANONYMOUS."""
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    return principal_of(scope) if isinstance(scope, dict) else ANONYMOUS


def trusted_end_user(caller: Principal, meta: Mapping[str, Any] | None) -> EndUser | None:
    """The end user of a call: the caller itself when its token is delegated, else the `_meta`
    identity, believed only from an authenticated (allowed) caller."""
    if not caller.authenticated:
        return None
    if caller.scopes:
        return EndUser(
            object_id=caller.object_id or caller.subject,
            tenant_id=caller.tenant_id,
            app_id=caller.app_id,
            roles=caller.roles,
            scopes=caller.scopes,
            name=caller.name,
            assertion=caller.assertion,
        )
    if not meta:
        return None
    raw = meta.get(PRINCIPAL_META_KEY)
    if not isinstance(raw, Mapping):
        return None

    def strings(key: str) -> frozenset[str]:
        values = raw.get(key)
        return (
            frozenset(v for v in values if isinstance(v, str))
            if isinstance(values, list)
            else frozenset()
        )

    return EndUser(
        object_id=str(raw.get("oid") or raw.get("sub") or ""),
        tenant_id=str(raw.get("tid") or ""),
        app_id=str(raw.get("app_id") or ""),
        roles=strings("roles"),
        scopes=strings("scopes"),
        name=str(raw.get("name") or ""),
    )


def bind_end_user(user: EndUser | None) -> contextvars.Token[EndUser | None]:
    return _END_USER.set(user)


def unbind_end_user(token: contextvars.Token[EndUser | None]) -> None:
    _END_USER.reset(token)
