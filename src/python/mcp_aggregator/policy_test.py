"""The authorization policy: reading the file, which rule applies, whom it lets through."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mcp_aggregator.errors import ConfigError
from mcp_aggregator.policy import ANYONE, DENY, Policy, Rule, load_policy, parse_policy
from mcp_common.auth import Principal

POLICY = """\
default: deny
tools:
  create_ticket: {roles: [Tickets.Write], scopes: [tickets.write]}
  list_users: authenticated
  delete_user: deny
  "*": {roles: [Mcp.User], scopes: [mcp.access]}
prompts:
  greeting: {scopes: [prompts.read]}
"""

WRITER_APP = Principal("app-writer", roles=frozenset({"Tickets.Write"}))
WRITER_USER = Principal("user-writer", scopes=frozenset({"tickets.write"}))
MCP_USER = Principal("user-mcp", scopes=frozenset({"mcp.access"}), roles=frozenset({"Mcp.User"}))
NOBODY = Principal("user-plain", scopes=frozenset({"profile"}))


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def test_a_rule_lets_through_any_of_its_roles_or_any_of_its_scopes(policy: Policy) -> None:
    assert policy.allows(WRITER_APP, "tools", "create_ticket"), "an app role (app-only token)"
    assert policy.allows(WRITER_USER, "tools", "create_ticket"), "a delegated scope"
    assert not policy.allows(MCP_USER, "tools", "create_ticket"), "its own rule, not '*'"
    assert not policy.allows(NOBODY, "tools", "create_ticket")


def test_a_name_without_a_rule_falls_to_star_then_to_the_default(policy: Policy) -> None:
    assert policy.allows(MCP_USER, "tools", "list_tickets")
    assert not policy.allows(WRITER_USER, "tools", "list_tickets")
    assert policy.allows(NOBODY, "tools", "list_users"), "authenticated: any valid token"
    assert not policy.allows(MCP_USER, "tools", "delete_user"), "deny beats '*'"
    assert policy.allows(
        Principal("reader", scopes=frozenset({"prompts.read"})), "prompts", "greeting"
    )
    assert not policy.allows(MCP_USER, "prompts", "other"), "no '*' in prompts: the default"
    assert not policy.allows(MCP_USER, "resources", "db://sales/rows")


def test_the_policy_names_every_delegated_scope_once(policy: Policy) -> None:
    assert policy.scopes() == ["mcp.access", "prompts.read", "tickets.write"]


def test_an_open_policy_allows_everything_even_the_anonymous() -> None:
    anonymous = Principal("anonymous", authenticated=False)
    assert Policy.open().allows(anonymous, "tools", "delete_user")
    assert not Policy().allows(anonymous, "tools", "delete_user"), "the default is deny"


def test_a_rule_describes_what_a_caller_needs() -> None:
    rule = Rule(roles=frozenset({"Tickets.Write", "Tickets.Admin"}), scopes=frozenset({"t.w"}))
    assert rule.describe() == "app role Tickets.Admin or Tickets.Write or scope t.w"
    assert Rule(scopes=frozenset({"mcp.access"})).describe() == "scope mcp.access"
    assert ANYONE.describe() == "any authenticated caller"
    assert DENY.describe() == "nobody (denied for everyone)"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("deny", "the policy must be a mapping with 'default' and 'tools'"),
        ({"tool": {}}, r"unknown policy keys \['tool'\]; allowed: default, tools, prompts, res"),
        ({"default": "allow"}, "default: 'allow' must be 'deny' or 'authenticated'"),
        ({"tools": ["create_ticket"]}, "tools: expected a mapping of names to rules"),
        ({"tools": {"t": "yes"}}, "tools.t: expected 'authenticated', 'deny' or a mapping"),
        ({"prompts": {"p": {"role": ["a"]}}}, r"prompts.p: unknown keys \['role'\]; allowed"),
        ({"tools": {"t": {"roles": "Admin"}}}, "tools.t.roles must be a list of non-empty str"),
        ({"tools": {"t": {"scopes": [""]}}}, "tools.t.scopes must be a list of non-empty str"),
        ({"resources": {"r": {}}}, r"resources.r: names no roles and no scopes \(write 'deny'"),
    ],
)
def test_an_invalid_policy_names_what_is_wrong_and_what_is_allowed(
    document: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(document)


def test_unknown_keys_of_mixed_types_are_still_a_config_error() -> None:
    # YAML reads `1:` as an integer key: the message must still name the unknown keys.
    with pytest.raises(ConfigError, match="unknown policy keys"):
        parse_policy({"default": "deny", 1: "x", "tool": {}})


def test_a_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("default: maybe\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: default: 'maybe' must be"):
        load_policy(path)
    path.write_text("tools: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))} is not valid YAML"):
        load_policy(path)
    with pytest.raises(ConfigError, match=re.escape(f"cannot read {tmp_path / 'missing.yaml'}")):
        load_policy(tmp_path / "missing.yaml")


def test_a_file_that_is_not_utf8_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes("# r\xe9vis\xe9 par l'\xe9quipe\ndefault: deny\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_policy(path)
