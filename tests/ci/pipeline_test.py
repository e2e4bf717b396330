"""`.gitlab-ci.yml` read by a real GitLab pipeline reader: `gitlab-ci-local` (npm) validates it
against GitLab's JSON schema and resolves stages, `extends`, rules and needs the way GitLab does.
It runs in a throwaway git checkout (it reads the branch from git), on `main` and on a
feature branch. `.ci/affected`, which turns a pipeline's base commit into Pants' arguments,
is run in a throwaway repository too.

Running the jobs is not part of this test: they need the CI builder image (or, for the build
jobs, a container engine), and the lint job is a Pants run of the whole repository. Run by
hand in a clone with `gitlab-ci-local --force-shell-executor --variable
XDG_CACHE_HOME=$HOME/.cache lint` (warm caches), the lint job passed in 2.3 minutes on two
cores; cold, add the Pants bootstrap and every tool's install. Too slow for every test run.
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
STAGES = ["lint", "unit-test", "contract-test", "build", "helm-package", "deploy"]
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
        ".ci/affected": (ROOT / ".ci" / "affected").read_text(),
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
    (repo / ".ci" / "affected").chmod(0o755)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "pipeline")
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
async def test_the_pipeline_has_the_six_stages_and_a_job_per_deployable(checkout: Path) -> None:
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
        assert jobs[f"helm:{name}"]["stage"] == "helm-package"
        assert [need["job"] for need in jobs[f"helm:{name}"]["needs"]] == [f"build:{name}"]
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
    assert jobs["helm:edge"]["needs"] == []
    assert [need["job"] for need in jobs["deploy:edge"]["needs"]] == ["helm:edge"]
    assert jobs["deploy:edge"]["when"] == "manual"
    assert jobs["rollback:edge"]["when"] == "manual"
    assert not any("image.repository" in line for line in expanded["deploy:edge"]["script"])
    assert jobs["contract-test"]["allow_failure"] is False


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
