"""The pipeline's jobs, run for real by `gitlab-ci-local --force-shell-executor` on a copy of
this working tree, as a merge request that changes the users domain: lint, contract-test,
build:users (PEX, image, SBOM; a branch stops before the push), helm:users, and scan:users,
which must fail here because no scanner can run (Trivy is not installable on these machines;
its wiring and verdicts are tested in src/python/mcp_release).

The jobs run the repository's own commands (`./pants`, `.ci/affected`, helm, podman) on this
machine instead of in the builder image, with the caches of this machine (XDG_CACHE_HOME), so a
warm run takes minutes, not the cold bootstrap. A job that fails fails this test, with its log.

Needs: rsync (gitlab-ci-local copies with it), git, podman that can build (the build job's
image; without it the job builds the PEX only and this test says so), and network to PyPI for
helm (build-support/builder/install-helm.sh, once into the cache).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_testkit.npm import MANIFESTS, NODE, ensure_packages, run

ROOT = os.environ.get("MCP_PLATFORM_BUILDROOT", "")
CLI = "node_modules/gitlab-ci-local/dist/index.js"
GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
JOB_TIMEOUT = 2400.0


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(  # git with fixed arguments
        [*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def _copy_working_tree(source: Path, target: Path) -> None:
    """Every file git tracks or would track (uncommitted edits included), nothing ignored."""
    listed = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        origin = source / name
        if not origin.is_file():
            continue  # deleted but not yet committed
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target / name)


async def _podman_builds() -> bool:
    podman = shutil.which("podman")
    if not podman:
        return False
    return (await run([podman, "info"], timeout=600)).returncode == 0


@pytest.fixture(scope="module")
def merge_request(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A clone of this tree on a feature branch whose one commit changes the users domain."""
    assert ROOT, "MCP_PLATFORM_BUILDROOT is unset: run this test through ./pants"
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    _copy_working_tree(Path(ROOT), repo)
    _git(repo, "init", "-q", "--initial-branch=main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the platform")
    base = _git(repo, "rev-parse", "HEAD")
    # `rules: changes` compare with the default branch's remote head, as on GitLab.
    _git(repo, "remote", "add", "origin", str(repo))
    _git(repo, "fetch", "-q", "origin")
    _git(repo, "checkout", "-q", "-b", "feature")
    module = repo / "src/python/mcp_users/__init__.py"
    module.write_text(module.read_text() + "# a change to the users domain\n")
    _git(repo, "commit", "-q", "-am", "users: a change")
    return repo, base


async def _gitlab_ci_local(repo: Path, base: str, *jobs: str) -> subprocess.CompletedProcess[bytes]:
    package = importlib.resources.files(__package__ or "ci")
    manifests = {name: package.joinpath(name).read_bytes() for name in MANIFESTS}
    target = await ensure_packages("gitlab-ci-local", manifests, [CLI])
    tools = _cache() / "mcp-platform" / "bin"
    helm = await run([str(repo / "build-support/builder/install-helm.sh"), str(tools)], timeout=600)
    assert helm.returncode == 0, helm.stderr.decode()
    base_image = ""
    if await _podman_builds():
        made = await run([str(repo / "build-support/podman/base-image.sh")], timeout=600)
        assert made.returncode == 0, made.stderr.decode()
        base_image = made.stdout.decode().strip()
    variables = {
        # Where a runner clones the project (gitlab-ci-local names a container's path even
        # with the shell executor); the pipeline's paths hang off it.
        "CI_PROJECT_DIR": str(repo),
        # The merge request's base: .ci/affected selects what the change touches.
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        # This machine's warm caches rather than a cold one inside the clone.
        "XDG_CACHE_HOME": str(_cache()),
        "BASE_IMAGE": base_image,
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PEX", "PANTS", "VIRTUAL"))},
        "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        # gitlab-ci-local keeps its state under ~/.gitlab-ci-local: keep it beside the clone.
        "HOME": str(repo.parent),
    }
    command = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(target / NODE)]
    command += [str(target / CLI), "--force-shell-executor", "--no-color"]
    for key, value in variables.items():
        command += ["--variable", f"{key}={value}"]
    return await run([*command, *jobs], timeout=JOB_TIMEOUT, cwd=repo)


def _log(done: subprocess.CompletedProcess[bytes]) -> str:
    return (done.stdout + done.stderr).decode(errors="replace")


@pytest.mark.anyio
async def test_lint_contract_build_and_helm_jobs_run_green(merge_request: tuple[Path, str]) -> None:
    repo, base = merge_request
    done = await _gitlab_ci_local(repo, base, "lint", "contract-test", "build:users", "helm:users")
    log = _log(done)
    assert done.returncode == 0, log[-8000:]
    for job in ("lint", "contract-test", "build:users", "helm:users"):
        assert f"PASS  {job}" in log, f"{job} did not pass:\n{log[-8000:]}"
    # The change is to users: the lint job checked only what it affects.
    assert "--changed-since=" + base in log
    assert (repo / "dist/mcp-users.pex").is_file()
    charts = list((repo / "dist/charts").glob("mcp-users-0.1.*.tgz"))
    assert len(charts) == 1, charts
    # A branch builds and never pushes (no registry login was attempted).
    assert ".ci/registry-login" not in log
    assert not (repo / "build-users.env").exists()
    if not await _podman_builds():
        pytest.fail("podman cannot build here: the build job built the PEX only")
    info = json.loads((repo / "dist/src.docker/mcp-users.docker-info.json").read_text())
    inspected = await run(["podman", "image", "inspect", info["image_id"]], timeout=120)
    assert inspected.returncode == 0, inspected.stderr.decode()
    labels = json.loads(inspected.stdout)[0]["Labels"]
    assert labels["org.opencontainers.image.revision"] == _git(repo, "rev-parse", "HEAD")
    sbom = json.loads((repo / "dist/supply-chain/mcp-users.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    names = {component["name"] for component in sbom["components"]}
    assert {"mcp", "pydantic", "python3.11"} <= names, sorted(names)[:40]
    # The build stage writes the SBOM only; the scan stage judges it.
    assert not (repo / "dist/supply-chain/mcp-users.scan.json").exists()


@pytest.mark.anyio
async def test_the_scan_job_fails_without_a_scanner(merge_request: tuple[Path, str]) -> None:
    repo, base = merge_request
    sbom = repo / "dist/supply-chain/mcp-users.cdx.json"
    if not sbom.exists():
        pytest.fail("the build job left no SBOM to scan (see the test before this one)")
    done = await _gitlab_ci_local(repo, base, "scan:users")
    log = _log(done)
    assert done.returncode != 0, log[-4000:]
    assert "FAIL  scan:users" in log, log[-4000:]
    assert "no scanner ran; this job requires one (trivy)" in log, log[-4000:]
    verdict = json.loads((repo / "dist/supply-chain/mcp-users.scan.json").read_text())
    assert verdict["status"] == "not-scanned"
