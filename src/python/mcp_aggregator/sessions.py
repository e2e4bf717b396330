"""Client-facing (2025-11-25) session ids that no replica stores, bound to their principal.

A 2025-11-25 client gets a session id in the answer to `initialize` and presents it on every
request. Two forms, both checkable by any replica with nothing shared between replicas:

- `<nonce>.<binding>[.<capabilities>]` when the client needs no upstream session (every
  upstream stateless): the binding is a SHA-256 of the nonce, the principal's key (tenant,
  object id, app) and the relayed capabilities the client declared (`sampling+roots`), if any. No
  secret is needed: the id grants nothing but a stream of list-changed notifications, so the
  binding only has to stop one principal from using another's id.
- `s1.<sealed>` when session-based upstreams are configured: the nonce and the upstream session
  ids the aggregator opened for this client (`{upstream: upstream session id}`), sealed with
  the replicas' keyring for the principal's key (`sealing`). Any replica opens it and continues
  the client's upstream sessions; a client can neither read nor alter it.

Another principal presenting either form gets 404, as if the session did not exist.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcp_aggregator.sealing import Sealer
from mcp_common.auth import Principal

HEADER = b"mcp-session-id"
CLIENT_CAPABILITIES = "mcp_aggregator.client_capabilities"
"""Request-scope key: the capabilities (of those the aggregator relays) the client's session
declared; the lists leave out tools offered only to clients with others."""
_SEALED = "s1."


@dataclass(frozen=True)
class ClientSession:
    """What a client's session id carries."""

    nonce: str
    upstreams: Mapping[str, str] = field(default_factory=dict)
    """Upstream name -> the upstream session id opened for (or shared with) this client."""
    capabilities: frozenset[str] = frozenset()
    """What the client declared at `initialize` of the requests the aggregator relays."""


class SessionCodec:
    """Issues and opens client session ids (see the module docstring)."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def issue(
        self,
        principal: Principal,
        upstreams: Mapping[str, str] | None = None,
        capabilities: frozenset[str] = frozenset(),
    ) -> str:
        nonce = secrets.token_hex(16)
        if not upstreams:
            # The declared capabilities ride in the clear: they are the client's own say, and
            # the binding covers them, so another principal cannot use the id.
            declared = "+".join(sorted(capabilities))
            binding = _binding(nonce, principal, declared)
            return f"{nonce}.{binding}.{declared}" if declared else f"{nonce}.{binding}"
        value = {"n": nonce, "u": dict(upstreams), "c": sorted(capabilities)}
        return _SEALED + self._sealer.seal(value, principal.key)

    def open(self, session_id: str, principal: Principal) -> ClientSession | None:
        """The session `session_id` names, if it was issued to `principal`; else None."""
        if session_id.startswith(_SEALED):
            value = self._sealer.open(session_id[len(_SEALED) :], principal.key)
            if not isinstance(value, dict) or not isinstance(value.get("n"), str):
                return None
            upstreams = value.get("u")
            if not isinstance(upstreams, dict):
                return None
            declared = value.get("c")
            if not isinstance(declared, list):
                declared = []
            return ClientSession(
                value["n"],
                {str(k): str(v) for k, v in upstreams.items()},
                frozenset(str(c) for c in declared),
            )
        nonce, dot, rest = session_id.partition(".")
        binding, _, declared = rest.partition(".")
        if not dot or len(nonce) != 32 or len(binding) != 32:
            return None
        if not secrets.compare_digest(binding, _binding(nonce, principal, declared)):
            return None
        return ClientSession(nonce, capabilities=frozenset(declared.split("+") if declared else ()))


def _binding(nonce: str, principal: Principal, declared: str = "") -> str:
    text = f"{nonce}\n{principal.key}" + (f"\n{declared}" if declared else "")
    return hashlib.sha256(text.encode()).hexdigest()[:32]
