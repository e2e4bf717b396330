"""Per-tool authorization: which Entra app roles or delegated scopes may call what.

The policy file (`MCP_AGGREGATOR_POLICY_FILE`, YAML, followed without a restart):

    default: deny                 # or: authenticated (any valid token)
    tools:
      create_ticket: {roles: [Tickets.Write], scopes: [tickets.write]}
      list_tickets: {roles: [Tickets.Read, Tickets.Write], scopes: [tickets.read]}
      list_users: authenticated   # any valid token; `deny`: nobody
      "*": {roles: [Mcp.User], scopes: [mcp.access]}
    prompts: {...}                # the same rules, by prompt name (optional)
    resources: {...}              # by resource URI or URI template as listed (optional)

A name's rule is its own entry, else the section's `"*"`, else `default`. A rule lets a caller
through when the token has any one of its `roles` (app roles: `roles` claim, what app-only
tokens such as workload identities carry) or any one of its `scopes` (delegated: `scp`, what
user tokens carry). Names are the ones clients see (after any tool prefix).

Why roles and scopes side by side: the same tool is called by people through an assistant
(delegated scopes) and by automation (app roles), and Entra puts the two in different claims.
Never `upn` or e-mail: those are display data a user or admin can change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_aggregator.config import load_yaml_file, unknown_keys
from mcp_aggregator.errors import ConfigError
from mcp_common.auth import Principal

Kind = Literal["tools", "prompts", "resources"]
KINDS: tuple[Kind, ...] = ("tools", "prompts", "resources")


@dataclass(frozen=True)
class Rule:
    """Who may: any of `roles`, any of `scopes`, or (`anyone`) every authenticated caller."""

    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    anyone: bool = False

    def allows(self, principal: Principal) -> bool:
        if self.anyone:
            return True
        return bool(self.roles & principal.roles or self.scopes & principal.scopes)

    def describe(self) -> str:
        if self.anyone:
            return "any authenticated caller"
        wants = []
        if self.roles:
            wants.append(f"app role {' or '.join(sorted(self.roles))}")
        if self.scopes:
            wants.append(f"scope {' or '.join(sorted(self.scopes))}")
        return " or ".join(wants) or "nobody (denied for everyone)"


DENY = Rule()
ANYONE = Rule(anyone=True)


@dataclass(frozen=True)
class Policy:
    """The rules; `Policy.open()` (authentication off) allows everything."""

    default: Rule = DENY
    rules: Mapping[Kind, Mapping[str, Rule]] = field(default_factory=dict)
    enforced: bool = True

    @classmethod
    def open(cls) -> Policy:
        return cls(default=ANYONE, enforced=False)

    def rule(self, kind: Kind, name: str) -> Rule:
        section = self.rules.get(kind, {})
        return section.get(name) or section.get("*") or self.default

    def allows(self, principal: Principal, kind: Kind, name: str) -> bool:
        return not self.enforced or self.rule(kind, name).allows(principal)

    def scopes(self) -> list[str]:
        """Every delegated scope the policy names (for the protected-resource metadata)."""
        found = {s for section in self.rules.values() for r in section.values() for s in r.scopes}
        return sorted(found | set(self.default.scopes))


def _strings(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return frozenset(value)


def _rule(value: Any, where: str) -> Rule:
    if value == "authenticated":
        return ANYONE
    if value == "deny":
        return DENY
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: expected 'authenticated', 'deny' or a mapping with roles and/or scopes"
        )
    unknown = unknown_keys(value, {"roles", "scopes"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: ['roles', 'scopes']")
    roles = _strings(value.get("roles", []), f"{where}.roles")
    scopes = _strings(value.get("scopes", []), f"{where}.scopes")
    if not roles and not scopes:
        raise ConfigError(f"{where}: names no roles and no scopes (write 'deny' to deny)")
    return Rule(roles=roles, scopes=scopes)


def parse_policy(document: Any) -> Policy:
    """A policy from its parsed YAML.

    Raises:
        ConfigError: naming the first problem found.
    """
    if not isinstance(document, dict):
        raise ConfigError("the policy must be a mapping with 'default' and 'tools'")
    unknown = unknown_keys(document, {"default", *KINDS})
    if unknown:
        raise ConfigError(
            f"unknown policy keys {unknown}; allowed: default, tools, prompts, resources"
        )
    default = document.get("default", "deny")
    if default not in ("deny", "authenticated"):
        raise ConfigError(f"default: {default!r} must be 'deny' or 'authenticated'")
    rules: dict[Kind, dict[str, Rule]] = {}
    for kind in KINDS:
        section = document.get(kind) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{kind}: expected a mapping of names to rules")
        rules[kind] = {str(name): _rule(rule, f"{kind}.{name}") for name, rule in section.items()}
    return Policy(default=ANYONE if default == "authenticated" else DENY, rules=rules)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file.

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message says where).
    """
    return load_yaml_file(path, parse_policy)


class PolicyHolder:
    """The policy in force, swapped whole when its file changes."""

    def __init__(self, policy: Policy) -> None:
        self.current = policy

    async def apply(self, policy: Policy) -> None:
        self.current = policy
