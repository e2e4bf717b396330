"""The deployment guide and the pipeline (with its sign-in script) use only `az` commands and flags that were checked
against the real Azure CLI (`az_commands.py check` records them in az-checked.json)."""

from __future__ import annotations

import json
from pathlib import Path

from docs.az_commands import RECORD, commands

ROOT = Path(__file__).resolve().parents[2]


def test_every_az_command_of_the_guide_and_the_pipeline_was_checked() -> None:
    record = json.loads(RECORD.read_text())
    checked = record["commands"]
    unchecked = {}
    for name in record["files"]:
        for path, flags in commands((ROOT / name).read_text(), name).items():
            missing = sorted(set(flags) - set(checked.get(path, [])))
            if path not in checked or missing:
                unchecked[f"{name}: az {path}"] = missing
    assert unchecked == {}, (
        "re-run: python3 tests/docs/az_commands.py check "
        + " ".join(record["files"])
        + " --az <azure-cli>"
    )
    assert set(record["files"]) == {
        "AKS_DEPLOYMENT_GUIDE.md",
        ".gitlab-ci.yml",
        ".ci/registry-login",
    }


def test_the_parser_sees_the_commands_that_matter() -> None:
    guide = commands((ROOT / "AKS_DEPLOYMENT_GUIDE.md").read_text(), "AKS_DEPLOYMENT_GUIDE.md")
    assert {"--enable-oidc-issuer", "--enable-workload-identity"} <= set(guide["aks create"])
    assert {"--issuer", "--subject", "--audiences"} <= set(
        guide["identity federated-credential create"]
    )
    # Cilium enforces the NetworkPolicies (Azure NPM is retiring); ACR imports the Envoy image.
    assert "--network-dataplane" in guide["aks create"]
    assert "--network-policy" not in guide["aks create"]
    assert {"--source", "--image"} <= set(guide["acr import"])
    # The pipeline signs in with its OIDC token (no secret), in its sign-in script.
    login = commands((ROOT / ".ci" / "registry-login").read_text(), ".ci/registry-login")
    assert "--federated-token" in login["login"]
    assert "--expose-token" in login["acr login"]
    broken = "```bash\nfor x in a; do az aks create \\\n  --enable-oidc; done\n```\n"
    assert commands(broken, "x.md") == {"aks create": ["--enable-oidc"]}
