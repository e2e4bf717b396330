"""`.gitlab-ci.yml` read by a real GitLab pipeline reader: `gitlab-ci-local` (npm) validates it
against GitLab's JSON schema and resolves stages, `extends`, rules and needs the way GitLab does.
It runs in a throwaway git checkout (it reads the branch from git), on `main` and on a
feature branch. `.ci/affected`, which turns a pipeline's base commit into Pants' arguments,
is run in a throwaway repository too, and so is `.ci/deploy` in its plan mode (what a deploy
job would run, decided from what the pipeline built and what changed).

The jobs themselves run in jobs_test.py; the push and the signature in release_test.py.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_testkit.npm import MANIFESTS, NODE, ensure_packages, run

ROOT = Path(__file__).resolve().parents[2]
CLI = "node_modules/gitlab-ci-local/dist/index.js"
STAGES = [
    "builder",
    "lint",
    "unit-test",
    "contract-test",
    "build",
    "scan",
    "sign",
    "helm-package",
    "deploy",
]
DEPLOYABLES = ["users", "tickets", "data", "aggregator"]
GIT = [
    "git",
    "-c",
    "user.email=ci@example.com",
    "-c",
    "user.name=ci",
    "-c",
    "init.defaultBranch=main",
]


def _sources() -> dict[str, str]:
    """The pipeline and its helper, as the test's sandbox holds them."""
    return {
        ".gitlab-ci.yml": (ROOT / ".gitlab-ci.yml").read_text(),
        **{
            f".ci/{name}": (ROOT / ".ci" / name).read_text()
            for name in ("affected", "builder-tag", "deploy")
        },
    }


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(  # git with fixed arguments
        [*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for name, text in _sources().items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for name in ("affected", "builder-tag", "deploy"):
        (repo / ".ci" / name).chmod(0o755)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "pipeline")
    # `rules: changes` compare with the default branch's remote head, as on GitLab.
    _git(repo, "remote", "add", "origin", str(repo))
    _git(repo, "fetch", "-q", "origin")
    return repo


async def _reader(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    package = importlib.resources.files(__package__ or "ci")
    manifests = {name: package.joinpath(name).read_bytes() for name in MANIFESTS}
    target = await ensure_packages("gitlab-ci-local", manifests, [CLI])
    # HOME: gitlab-ci-local keeps state under ~/.gitlab-ci-local; keep it in the sandbox.
    env = {"HOME": str(repo.parent)}
    command = ["env", *(f"{k}={v}" for k, v in env.items()), str(target / NODE), str(target / CLI)]
    return await run([*command, *args], timeout=120, cwd=repo)


async def _jobs(repo: Path) -> dict[str, dict[str, Any]]:
    done = await _reader(repo, "--list-json")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return {job["name"]: job for job in json.loads(done.stdout)}


@pytest.mark.anyio
async def test_the_pipeline_has_its_stages_and_a_job_per_deployable(checkout: Path) -> None:
    preview = await _reader(checkout, "--preview")
    assert preview.returncode == 0, preview.stderr.decode()[-3000:]
    expanded = yaml.safe_load(preview.stdout)
    jobs = await _jobs(checkout)
    assert expanded["stages"][1:-1] == STAGES, "gitlab-ci-local adds .pre and .post"
    assert {name: jobs[name]["stage"] for name in ("lint", "unit-test", "contract-test")} == {
        "lint": "lint",
        "unit-test": "unit-test",
        "contract-test": "contract-test",
    }
    for name in [*DEPLOYABLES, "client"]:
        assert jobs[f"build:{name}"]["stage"] == "build"
        # build -> scan -> sign -> helm: nothing is signed unscanned, nothing released unsigned.
        assert [need["job"] for need in jobs[f"scan:{name}"]["needs"]] == [f"build:{name}"]
        assert [need["job"] for need in jobs[f"sign:{name}"]["needs"]] == [
            f"build:{name}",
            f"scan:{name}",
        ]
        assert jobs[f"helm:{name}"]["stage"] == "helm-package"
        assert [need["job"] for need in jobs[f"helm:{name}"]["needs"]] == [
            f"build:{name}",
            f"sign:{name}",
        ]
        assert "--require-scanner" in " ".join(expanded[f"scan:{name}"]["script"])
    # On the default branch every domain has its own manual deploy and rollback.
    for name in DEPLOYABLES:
        assert jobs[f"deploy:{name}"]["when"] == "manual"
        assert jobs[f"rollback:{name}"]["when"] == "manual"
        deploy = expanded[f"deploy:{name}"]
        assert deploy["variables"]["DEPLOYABLE"] == name
        assert deploy["environment"]["name"] == "production/$DEPLOYABLE"
        assert deploy["resource_group"] == "production-$DEPLOYABLE", "one deploy at a time"
    # The edge ships only its chart (Envoy's image), with its own manual deploy.
    assert jobs["helm:edge"]["stage"] == "helm-package"
    assert [need["job"] for need in jobs["helm:edge"]["needs"]] == ["builder"]
    assert [need["job"] for need in jobs["deploy:edge"]["needs"]] == ["helm:edge"]
    assert jobs["deploy:edge"]["when"] == "manual"
    assert jobs["rollback:edge"]["when"] == "manual"
    assert jobs["contract-test"]["allow_failure"] is False


@pytest.mark.anyio
async def test_one_engine_from_build_to_push_and_deploys_by_digest(checkout: Path) -> None:
    expanded = yaml.safe_load((await _reader(checkout, "--preview")).stdout)
    scripts = {
        name: "\n".join([*job.get("before_script", []), *job.get("script", [])])
        for name, job in expanded.items()
        if isinstance(job, dict) and "script" in job
    }
    # No docker daemon anywhere: podman builds (through Pants) and pushes.
    assert not any("docker " in script for script in scripts.values()), "a docker command"
    assert not any(job.get("services") for job in expanded.values() if isinstance(job, dict))
    build = scripts["build:users"]
    assert 'SOURCE_COMMIT="$CI_COMMIT_SHA" ./pants package' in build
    assert 'build-support/release/push-image.sh "$DEPLOYABLE"' in build
    assert expanded["build:users"]["variables"]["MCP_SUPPLY_CHAIN"] == "sbom"
    assert "dist/supply-chain/" in expanded["build:users"]["artifacts"]["paths"]
    assert 'sign-image.sh "$IMAGE_REF"' in scripts["sign:users"]
    assert scripts["deploy:users"].endswith('.ci/deploy "$DEPLOYABLE"')


@pytest.mark.anyio
async def test_every_job_runs_in_the_builder_that_its_definition_hashes_to(checkout: Path) -> None:
    expanded = yaml.safe_load((await _reader(checkout, "--preview")).stdout)
    # The repository's own script, on this repository's builder files.
    tag = (await run([str(ROOT / ".ci" / "builder-tag")], timeout=30)).stdout.decode().strip()
    assert (
        expanded["variables"]["BUILDER_TAG"] == tag
    ), f"the builder's definition changed: set BUILDER_TAG: {tag} in .gitlab-ci.yml"
    assert expanded["variables"]["BUILDER_IMAGE"] == "$CI_REGISTRY_IMAGE/ci-builder:$BUILDER_TAG"
    changes = set(expanded["builder"]["rules"][0]["changes"])
    assert changes == {
        "src/docker/builder/Dockerfile",
        "build-support/builder/install.sh",
        "build-support/builder/install-helm.sh",
        "build-support/release/install-cosign.sh",
    }, "the builder job must run whenever a file the tag hashes changes"
    builder_files = (ROOT / ".ci" / "builder-tag").read_text()
    assert all(name in builder_files for name in changes)


@pytest.mark.anyio
async def test_pants_jobs_run_only_affected_targets_and_keep_their_caches(checkout: Path) -> None:
    done = await _reader(checkout, "--preview")
    expanded = yaml.safe_load(done.stdout)
    for name in ("lint", "unit-test", "contract-test"):
        job = expanded[name]
        assert 'export AFFECTED="$(.ci/affected)"' in job["before_script"]
        assert any("./pants $AFFECTED" in line for line in job["script"]), job["script"]
        assert job["cache"][0]["paths"] == [".cache/"]
    assert expanded["variables"]["XDG_CACHE_HOME"] == "$CI_PROJECT_DIR/.cache"
    assert any(".ci/affected --deployable" in line for line in expanded["build:users"]["script"])


@pytest.mark.anyio
async def test_no_deploy_is_offered_off_the_default_branch(checkout: Path) -> None:
    _git(checkout, "checkout", "-q", "-b", "feature")
    jobs = await _jobs(checkout)
    assert {name: jobs[name]["when"] for name in jobs if name.startswith("deploy:")} == {
        f"deploy:{name}": "never" for name in [*DEPLOYABLES, "edge"]
    }
    # Only the default branch pushes, so only it signs.
    assert {name for name in jobs if name.startswith("sign:")} <= {
        name for name in jobs if jobs[name]["when"] == "never"
    }
    assert jobs["lint"]["when"] == "on_success"


@pytest.mark.anyio
async def test_the_reader_refuses_a_job_in_an_unknown_stage(checkout: Path) -> None:
    pipeline = checkout / ".gitlab-ci.yml"
    pipeline.write_text(pipeline.read_text() + "\nstray:\n  stage: publish\n  script: [echo]\n")
    _git(checkout, "commit", "-q", "-am", "a stray job")
    done = await _reader(checkout, "--list")
    assert done.returncode != 0
    assert "publish" in (done.stdout + done.stderr).decode()


def _affected(repo: Path, **env: str) -> str:
    done = subprocess.run(  # the repository's own script
        [str(repo / ".ci" / "affected")],
        cwd=repo,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def test_affected_compares_with_the_pipelines_base_and_falls_back_to_everything(
    checkout: Path,
) -> None:
    assert shutil.which("git")
    base = _git(checkout, "rev-parse", "HEAD")
    (checkout / "README.md").write_text("change\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "docs")
    expected = f"--changed-since={base} --changed-dependents=transitive"
    assert _affected(checkout, CI_MERGE_REQUEST_DIFF_BASE_SHA=base) == expected
    assert _affected(checkout, CI_COMMIT_BEFORE_SHA=base) == expected
    assert _affected(checkout) == "::", "nothing to compare with: everything"
    assert _affected(checkout, CI_COMMIT_BEFORE_SHA="0" * 40) == "::", "a new branch"
    assert _affected(checkout, CI_COMMIT_BEFORE_SHA="1" * 40) == "::", "a base not in the clone"
    assert _affected(checkout, CI_COMMIT_BEFORE_SHA=base, CI_COMMIT_TAG="v1") == "::"
    (checkout / "pants.toml").write_text("[GLOBAL]\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "pants config")
    assert _affected(checkout, CI_COMMIT_BEFORE_SHA=base) == "::", "config changes everything"


def _deploy(repo: Path, name: str = "users", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the repository's own script, in plan mode (runs no helm)
        [str(repo / ".ci" / "deploy"), name],
        cwd=repo,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DEPLOY_PLAN": "1", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_deploy_takes_the_pushed_digest_and_a_values_change_alone_deploys(
    checkout: Path,
) -> None:
    values = checkout / "deploy" / "production" / "mcp-users.yaml"
    values.parent.mkdir(parents=True)
    values.write_text("replicaCount: 2\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "production values")
    base = _git(checkout, "rev-parse", "HEAD")
    env = {"ACR_NAME": "acr", "CI_COMMIT_BEFORE_SHA": base}

    built = _deploy(checkout, **env, PACKAGED_CHART_VERSION="0.1.7", IMAGE_DIGEST="sha256:abc")
    assert built.returncode == 0, built.stderr
    upgrade, test = built.stdout.splitlines()
    assert upgrade.startswith(
        "plan: helm upgrade --install mcp-users oci://acr.azurecr.io/helm/mcp-users"
    )
    assert (
        "--version 0.1.7 --namespace mcp-users --values deploy/production/mcp-users.yaml" in upgrade
    )
    assert "--set image.digest=sha256:abc" in upgrade
    assert "image.tag" not in upgrade, "by digest, never by tag"
    assert test == "plan: helm test mcp-client --namespace mcp-client --logs --timeout 5m"

    (checkout / "README.md").write_text("docs\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "docs")
    unchanged = _deploy(checkout, **env)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "nothing to deploy" in unchanged.stdout
    assert "plan:" not in unchanged.stdout

    values.write_text("replicaCount: 3\n")
    _git(checkout, "commit", "-q", "-am", "production: three replicas")
    redeploy = _deploy(checkout, **env)
    assert redeploy.returncode == 0, redeploy.stderr
    assert "only deploy/production/mcp-users.yaml changed" in redeploy.stdout
    assert "running" in redeploy.stdout.splitlines()[1]  # the running release's version, digest
    assert "image.digest=" in redeploy.stdout

    missing = _deploy(checkout, "data", **env)
    assert missing.returncode == 1
    assert "deploy/production/mcp-data.yaml is missing" in missing.stderr
