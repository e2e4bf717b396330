"""The local stack's Entra ID: a development issuer, so the stack runs authenticated as on AKS.

`mcp_testkit.fake_entra` serves, over HTTPS on 127.0.0.1 with a CA made at start (files under
`var/identity`), the OpenID configuration, the JWKS and the workload-identity token endpoint.
Every service verifies tokens against it exactly as against Entra ID (same verifier, same
settings, pointed elsewhere by AUTHORITY_HOST and TLS_CA_BUNDLE); the aggregator gets its
upstream tokens from it with the real WorkloadIdentityCredential, and a person's tokens for
each domain with the real OnBehalfOfCredential (on-behalf-of is on in the stack). The launcher mints a
developer token for MCP clients. Nothing here ships: the stack is a development tool.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from anyio.from_thread import start_blocking_portal

from mcp_stack.stack import AGGREGATOR, Service
from mcp_testkit.fake_entra import fake_entra
from mcp_testkit.identity import AGGREGATOR_API, DEV_POLICY, LocalIdentity


@dataclass(frozen=True)
class StackIdentity:
    identity: LocalIdentity
    policy_file: Path

    def environment(self, services: tuple[Service, ...]) -> dict[str, str]:
        """Every service's identity settings, as environment variables (what Helm sets)."""
        env: dict[str, str] = dict(self.identity.entra.environment())  # AZURE_*: the aggregator's
        for service in services:
            if service.name == AGGREGATOR.name:
                # A person's calls go on as them (Entra's on-behalf-of grant, which the
                # development issuer implements); applications keep the aggregator's token.
                settings = {**self.identity.aggregator(self.policy_file), "on_behalf_of": True}
            else:
                settings = self.identity.domain(service.name)
            env.update(self.identity.environment(service.env_prefix, settings))
        return env


@contextlib.contextmanager
def local_identity(directory: Path) -> Iterator[StackIdentity]:
    """Run the development issuer in a background thread while the block runs.

    The policy file (`directory/policy.yaml`) is written once and then left to the developer:
    the aggregator follows edits to it while it runs.
    """
    keys = directory / "identity"
    shutil.rmtree(keys, ignore_errors=True)
    keys.mkdir(parents=True)
    policy = directory / "policy.yaml"
    if not policy.exists():
        policy.write_text(DEV_POLICY)
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(fake_entra(keys)) as entra,
    ):
        # The aggregator's workload identity owns the platform API, so it may exchange a
        # person's token for it (Entra checks the assertion's audience the same way).
        entra.apis[entra.client_id] = {AGGREGATOR_API}
        yield StackIdentity(LocalIdentity(entra), policy)
