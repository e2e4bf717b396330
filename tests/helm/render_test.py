"""What the rendered manifests say, in every CI scenario: valid Kubernetes, hardened pods,
identity, probes, scaling, disruption budgets, network policy, and no secrets."""

from __future__ import annotations

import json
import re

import pytest

from helm.charts import (
    CHARTS,
    DOMAINS,
    SCENARIOS,
    Helm,
    Manifest,
    by_kind,
    env_of,
    one,
    pod_labels,
    pod_spec,
    strings_in,
    validate,
)

Rendered = dict[tuple[str, str], list[Manifest]]
WORKLOADS = ("Deployment", "Job", "CronJob")
# The pods' only writable path: an emptyDir, per pod.
WRITABLE = "/tmp"  # noqa: S108
SERVERS = (*DOMAINS, "mcp-aggregator")
# What a credential looks like in a value: a JWT, a private key, a storage account key or
# connection string, a password in a URL, an Azure client secret (~ in the fourth place).
SECRET_SHAPES = [
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AccountKey=|SharedAccessSignature=|sig=[A-Za-z0-9%]{20,}"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"\b[A-Za-z0-9_.-]{3}~[A-Za-z0-9_.~-]{30,}\b"),
]
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN(?!_SCOPE)|CLIENT_SECRET|API_KEY", re.I)


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOADS]


def containers(manifest: Manifest) -> list[Manifest]:
    spec = pod_spec(manifest)
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> Rendered:
    return {(c, s): helm.render(c, [s]) for c, s in SCENARIOS}


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS)
def test_every_manifest_is_valid_kubernetes(rendered: Rendered, chart: str, scenario: str) -> None:
    manifests = rendered[chart, scenario]
    assert manifests
    for manifest in manifests:
        validate(manifest)


def test_validation_catches_an_unknown_field(rendered: Rendered) -> None:
    import kubernetes_validate

    deployment = one(rendered["mcp-users", "demo-values.yaml"], "Deployment")
    pod_spec(deployment)["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContex"):
        validate(deployment)


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS)
def test_pods_are_hardened(rendered: Rendered, chart: str, scenario: str) -> None:
    for workload in workloads(rendered[chart, scenario]):
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (1000, 1000, 1000)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["privileged"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": WRITABLE} in container["volumeMounts"]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
            # Every other mount is read-only: /tmp is the only writable path.
            for mount in container["volumeMounts"]:
                assert mount["mountPath"] == WRITABLE or mount.get("readOnly") is True
                assert "subPath" not in mount


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] != "mcp-edge"])
def test_workload_identity_labels_and_annotations(
    rendered: Rendered, chart: str, scenario: str
) -> None:
    manifests = rendered[chart, scenario]
    account = one(manifests, "ServiceAccount")
    annotations = account["metadata"].get("annotations", {})
    for workload in workloads(manifests):
        labels = pod_labels(workload)
        assert pod_spec(workload)["serviceAccountName"] == account["metadata"]["name"]
        credential = {
            env_of(c).get(k)
            for c in containers(workload)
            for k in env_of(c)
            if k.endswith("CREDENTIAL")
        }
        if labels.get("azure.workload.identity/use") == "true":
            assert re.fullmatch(r"[0-9a-f-]{36}", annotations["azure.workload.identity/client-id"])
            assert re.fullmatch(r"[0-9a-f-]{36}", annotations["azure.workload.identity/tenant-id"])
            assert credential == {"workload_identity"}
        else:
            assert "azure.workload.identity/use" not in labels
            assert "azure.workload.identity/client-id" not in annotations
            assert credential == {"none"}


def test_the_production_scenarios_use_workload_identity(rendered: Rendered) -> None:
    for chart in SERVERS:
        deployment = one(rendered[chart, "production-values.yaml"], "Deployment")
        assert pod_labels(deployment)["azure.workload.identity/use"] == "true"
    job = one(rendered["mcp-client", "workload-identity-values.yaml"], "Job")
    assert pod_labels(job)["azure.workload.identity/use"] == "true"


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] in SERVERS])
def test_servers_listen_for_the_cluster_with_probes(
    rendered: Rendered, chart: str, scenario: str
) -> None:
    manifests = rendered[chart, scenario]
    deployment = one(manifests, "Deployment")
    (service,) = (
        s for s in by_kind(manifests, "Service") if not s["metadata"]["name"].endswith("-headless")
    )
    (container,) = pod_spec(deployment)["containers"]
    env = env_of(container)
    prefix = "MCP_" + chart.removeprefix("mcp-").upper()
    port = service["spec"]["ports"][0]["port"]
    assert env[f"{prefix}_HOST"] == "0.0.0.0"
    assert env[f"{prefix}_PORT"] == str(port)
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    hosts = json.loads(env[f"{prefix}_ALLOWED_HOSTS"])
    assert f"{name}:*" in hosts
    assert f"{name}.{namespace}.svc.cluster.local:*" in hosts
    assert env[f"{prefix}_AUTH"] == "entra"
    assert json.loads(env[f"{prefix}_AUDIENCES"])
    assert re.fullmatch(r"[0-9a-f-]{36}", env[f"{prefix}_TENANT_ID"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert service["spec"]["selector"] == {
        k: v for k, v in pod_labels(deployment).items() if k.startswith("app.kubernetes.io/")
    }


@pytest.mark.parametrize(
    ("chart", "scenario"),
    # Demo mode over SQLite is one pod (test_demo_mode_over_sqlite_is_one_pod_recreated).
    [s for s in SCENARIOS if s[0] in (*SERVERS, "mcp-edge") and s[1] != "demo-values.yaml"],
)
def test_scaling_disruption_and_spread(rendered: Rendered, chart: str, scenario: str) -> None:
    manifests = rendered[chart, scenario]
    deployment = one(manifests, "Deployment")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment["spec"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 80, "memory": 85}
    pdb = one(manifests, "PodDisruptionBudget")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"]["maxUnavailable"] == 1
    # Selector labels carry no chart version: they must not change on upgrade.
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    spread = pod_spec(deployment)["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_replicas_without_autoscaling(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-users",
        ["production-values.yaml"],
        sets={"autoscaling.enabled": False, "replicaCount": 3},
    )
    assert one(manifests, "Deployment")["spec"]["replicas"] == 3
    assert not by_kind(manifests, "HorizontalPodAutoscaler")


@pytest.mark.parametrize("chart", DOMAINS)
def test_demo_mode_over_sqlite_is_one_pod_recreated(rendered: Rendered, chart: str) -> None:
    deployment = one(rendered[chart, "demo-values.yaml"], "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not by_kind(rendered[chart, "demo-values.yaml"], "HorizontalPodAutoscaler")
    production = one(rendered[chart, "production-values.yaml"], "Deployment")
    assert production["spec"]["strategy"]["type"] == "RollingUpdate"


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        ({"autoscaling.enabled": True}, "with autoscaling.enabled=true every pod"),
        ({"replicaCount": 3}, "with replicaCount=3 every pod"),
    ],
)
@pytest.mark.parametrize("chart", DOMAINS)
def test_demo_mode_over_sqlite_refuses_more_than_one_pod(
    helm: Helm, chart: str, sets: dict[str, object], named: str
) -> None:
    error = helm.refusal(chart, ["demo-values.yaml"], sets=sets)
    assert "Error:" in error
    assert "demo=true without a PostgreSQL database.url or database.existingSecret" in error
    assert named in error
    assert "own records and idempotency keys" in error
    assert "set autoscaling.enabled=false and replicaCount=1" in error
    assert "PostgreSQL database that the replicas share" in error


@pytest.mark.parametrize(
    "sets",
    [
        {"database.url": "postgresql+asyncpg://db.example.internal/tickets"},
        {"database.existingSecret.name": "tickets-db"},
    ],
)
def test_demo_mode_over_a_shared_database_scales(helm: Helm, sets: dict[str, object]) -> None:
    manifests = helm.render(
        "mcp-tickets", ["demo-values.yaml"], sets={**sets, "autoscaling.enabled": True}
    )
    assert one(manifests, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    assert one(manifests, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] in SERVERS])
def test_servers_wait_before_they_stop_listening(
    rendered: Rendered, chart: str, scenario: str
) -> None:
    spec = pod_spec(one(rendered[chart, scenario], "Deployment"))
    (container,) = spec["containers"]
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert spec["terminationGracePeriodSeconds"] > 5


@pytest.mark.parametrize("chart", [*SERVERS, "mcp-edge"])
def test_a_grace_period_within_the_pre_stop_sleep_is_refused(helm: Helm, chart: str) -> None:
    scenario = helm.scenarios(chart)[-1]
    error = helm.refusal(
        chart, [scenario], sets={"preStopSleepSeconds": 30, "terminationGracePeriodSeconds": 30}
    )
    assert "terminationGracePeriodSeconds (30) must exceed preStopSleepSeconds (30)" in error
    off = one(helm.render(chart, [scenario], sets={"preStopSleepSeconds": 0}), "Deployment")
    assert "lifecycle" not in pod_spec(off)["containers"][0]


def test_min_replicas_above_max_is_refused(helm: Helm) -> None:
    error = helm.refusal(
        "mcp-users", ["production-values.yaml"], sets={"autoscaling.minReplicas": 11}
    )
    assert "autoscaling.minReplicas (11) exceeds autoscaling.maxReplicas (10)" in error


@pytest.mark.parametrize("chart", DOMAINS)
def test_only_the_aggregator_reaches_a_domain_under_its_network_policy(
    helm: Helm, rendered: Rendered, chart: str
) -> None:
    assert not by_kind(rendered[chart, "demo-values.yaml"], "NetworkPolicy")
    manifests = rendered[chart, "production-values.yaml"]
    policy = one(manifests, "NetworkPolicy")
    deployment = one(manifests, "Deployment")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    # The peer is the aggregator chart's pods, in the aggregator's namespace.
    aggregator = one(rendered["mcp-aggregator", "production-values.yaml"], "Deployment")
    assert peer["podSelector"]["matchLabels"].items() <= pod_labels(aggregator).items()
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "mcp-aggregator"}
    }
    # By default too: the aggregator is installed in its own namespace, mcp-aggregator.
    enabled = helm.render(chart, ["demo-values.yaml"], sets={"networkPolicy.enabled": True})
    (default_peer,) = one(enabled, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert default_peer["namespaceSelector"] == peer["namespaceSelector"]


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] in DOMAINS])
def test_domain_settings(rendered: Rendered, chart: str, scenario: str) -> None:
    deployment = one(rendered[chart, scenario], "Deployment")
    env = env_of(pod_spec(deployment)["containers"][0])
    prefix = "MCP_" + chart.removeprefix("mcp-").upper()
    assert json.loads(env[f"{prefix}_ALLOWED_CALLERS"]) == ["66666666-7777-8888-9999-000000000000"]
    if scenario == "demo-values.yaml":
        assert env[f"{prefix}_DEMO"] == "true"
        assert f"{prefix}_API_URL" not in env
        assert env[f"{prefix}_DATABASE_URL"].startswith("sqlite+aiosqlite:////tmp/")
    else:
        assert f"{prefix}_DEMO" not in env
        assert env[f"{prefix}_API_URL"].startswith("https://")
        assert env[f"{prefix}_API_SCOPE"].endswith("/.default")


def test_a_database_password_comes_from_a_secret(helm: Helm) -> None:
    manifests = helm.render(
        "mcp-tickets", ["demo-values.yaml"], sets={"database.existingSecret.name": "tickets-db"}
    )
    container = pod_spec(one(manifests, "Deployment"))["containers"][0]
    (entry,) = (e for e in container["env"] if e["name"] == "MCP_TICKETS_DATABASE_URL")
    assert entry == {
        "name": "MCP_TICKETS_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "tickets-db", "key": "url"}},
    }


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS)
def test_no_rendered_value_looks_like_a_secret(
    rendered: Rendered, chart: str, scenario: str
) -> None:
    manifests = rendered[chart, scenario]
    # The one Secret a chart renders: the aggregator's session keys, which helm generates at
    # install (randBytes; never a value) for every replica to share (docs/aggregator.md).
    secrets = [m["metadata"]["name"] for m in by_kind(manifests, "Secret")]
    assert all(name.endswith("-session-keys") for name in secrets), secrets
    assert not secrets or chart == "mcp-aggregator", secrets
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        for path, value in strings_in(manifest):
            for shape in SECRET_SHAPES:
                assert not shape.search(value), f"{manifest['kind']}{path} looks like a secret"
        for workload in workloads([manifest]):
            for container in containers(workload):
                for entry in container.get("env", []):
                    if SECRET_NAMES.search(entry["name"]):
                        assert "value" not in entry, f"{entry['name']} carries a value"


def test_the_secret_check_can_fail() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4eCJ9.c2lnbmF0dXJl"
    found = [p for p, v in strings_in({"a": [{"b": token}]}) if SECRET_SHAPES[0].search(v)]
    assert found == [".a[0].b"]
    assert SECRET_SHAPES[3].search("postgresql+asyncpg://mcp:hunter2@db/tickets")


@pytest.mark.parametrize("chart", CHARTS)
def test_labels_follow_the_kubernetes_recommendations(
    rendered: Rendered, chart: str, helm: Helm
) -> None:
    scenario = helm.scenarios(chart)[0]
    for manifest in rendered[chart, scenario]:
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == chart
        assert labels["app.kubernetes.io/part-of"] == "mcp-platform"
        assert labels["helm.sh/chart"] == f"{chart}-0.1.0"
        assert manifest["metadata"]["namespace"] == "mcp"


@pytest.mark.parametrize("chart", SERVERS)
def test_the_per_caller_rate_limit_is_a_value(helm: Helm, chart: str) -> None:
    scenario = next(s for c, s in SCENARIOS if c == chart)
    prefix = "MCP_" + chart.removeprefix("mcp-").upper()

    def env(sets: dict[str, object] | None = None) -> dict[str, str]:
        deployment = one(helm.render(chart, [scenario], sets=sets), "Deployment")
        return env_of(pod_spec(deployment)["containers"][0])

    assert f"{prefix}_RATE_LIMIT_PER_SECOND" not in env(), "off by default"
    limited = env({"rateLimit": {"perSecond": 2.5, "burst": 10}})
    assert limited[f"{prefix}_RATE_LIMIT_PER_SECOND"] == "2.5"
    assert limited[f"{prefix}_RATE_LIMIT_BURST"] == "10"
    refusal = helm.refusal(chart, [scenario], sets={"rateLimit": {"perSecond": -1}})
    assert "rateLimit.perSecond" in refusal


@pytest.mark.parametrize("chart", SERVERS)
def test_on_behalf_of_is_a_value_off_by_default_and_needs_workload_identity(
    helm: Helm, chart: str
) -> None:
    scenario = "production-values.yaml"  # the demo ones have no workload identity
    prefix = "MCP_" + chart.removeprefix("mcp-").upper()

    def env(sets: dict[str, object] | None = None) -> dict[str, str]:
        deployment = one(helm.render(chart, [scenario], sets=sets), "Deployment")
        return env_of(pod_spec(deployment)["containers"][0])

    assert f"{prefix}_ON_BEHALF_OF" not in env(), "off by default"
    on = env({"auth.onBehalfOf": True})
    assert on[f"{prefix}_ON_BEHALF_OF"] == "true"
    assert on[f"{prefix}_CREDENTIAL"] == "workload_identity"
    refusal = helm.refusal(
        chart,
        [scenario],
        sets={"auth.onBehalfOf": True, "workloadIdentity.enabled": False},
    )
    assert "auth.onBehalfOf needs workloadIdentity.enabled" in refusal
