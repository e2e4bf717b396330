"""The platform's identity wiring on a local Entra ID: what each service is told, and tokens.

The same settings the Helm charts set on AKS, pointed at `fake_entra` instead of Entra:
every domain accepts only the aggregator's workload identity (`allowed_callers`), the
aggregator verifies its clients' tokens and calls each domain with its own token for that
domain's audience. Tests and the local stack use it, so both run with authentication on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_testkit.fake_entra import FakeEntra

AGGREGATOR_API = "api://mcp-platform"
"""The aggregator's App ID URI: the audience of the tokens its clients send."""

DEV_POLICY = """\
# Who may call what (see mcp_aggregator/policy.py). Edit it while the aggregator runs.
default: deny
tools:
  create_ticket: {roles: [Tickets.Write], scopes: [tickets.write]}
  "*": {roles: [Mcp.User], scopes: [mcp.access]}
"""


def domain_audience(domain: str) -> str:
    return f"api://mcp-{domain}"


def domain_scope(domain: str) -> str:
    """The scope the aggregator asks for to call `domain` (its registry entry's `scope`)."""
    return f"{domain_audience(domain)}/.default"


@dataclass(frozen=True)
class LocalIdentity:
    entra: FakeEntra

    def common(self, audiences: list[str]) -> dict[str, Any]:
        return {
            "auth": "entra",
            "tenant_id": self.entra.tenant_id,
            "audiences": audiences,
            "authority_host": self.entra.authority,
            "tls_ca_bundle": self.entra.ca_bundle,
        }

    def domain(self, domain: str) -> dict[str, Any]:
        """A domain server's identity settings, by field name (see `environment`)."""
        return {
            **self.common([domain_audience(domain)]),
            "allowed_callers": [self.entra.client_id],
        }

    def aggregator(self, policy_file: Path | None = None) -> dict[str, Any]:
        """The aggregator's identity settings, by field name (see `environment`)."""
        settings = {**self.common([AGGREGATOR_API]), "credential": "workload_identity"}
        if policy_file is not None:
            settings["policy_file"] = str(policy_file)
        return settings

    @staticmethod
    def environment(prefix: str, settings: dict[str, Any]) -> dict[str, str]:
        """`settings` as the environment variables a service reads (`<PREFIX><NAME>`)."""
        return {
            f"{prefix}{name.upper()}": json.dumps(value) if isinstance(value, list) else str(value)
            for name, value in settings.items()
        }

    def user_token(
        self,
        scopes: tuple[str, ...] = ("mcp.access", "tickets.write"),
        *,
        lifetime: int = 12 * 3600,
        oid: str = "00000000-0000-4000-8000-00000000d3e0",
    ) -> str:
        """A delegated token for the aggregator, as a person's MCP client would hold."""
        return self.entra.token(
            AGGREGATOR_API,
            scopes=list(scopes),
            oid=oid,
            app_id="local-developer",
            lifetime=lifetime,
        )

    def app_token(self, roles: tuple[str, ...] = ("Mcp.User", "Tickets.Write")) -> str:
        """An app-only token for the aggregator, as automation (CI, an agent) would hold."""
        return self.entra.token(AGGREGATOR_API, roles=list(roles), app_id="automation")
