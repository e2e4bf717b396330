"""The pipeline's push and sign steps against a real registry: Debian's `docker-registry` on
127.0.0.1 (plain HTTP), podman pushing, cosign signing with a key pair the test made.

`build-support/release/push-image.sh` must push the image Pants recorded and print the digest
the registry serves for it; `sign-image.sh` must sign that digest and attach the SBOM as a
signed attestation beside it in the registry, verified with the public key; a signature made
with another key must not verify. ACR and Key Vault are what GitLab uses instead: the same
commands with other references (`azurekms://...`), which cannot be reached from here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_testkit.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "build-support" / "release"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed (Debian: apt-get install {name}); .ci/run installs it"
    return found


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a registry that lives as long as the module's tests."""
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n"
    )
    log = (folder / "registry.log").open("wb")
    server = subprocess.Popen(  # Debian's registry with a config the test wrote
        [_tool("docker-registry"), "serve", str(config)], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/v2/"
                with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                    assert answer.status == 200
                break
            except OSError:
                assert server.poll() is None, (folder / "registry.log").read_text()
                assert time.monotonic() < deadline, "the registry did not start within 60 s"
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def cosign(tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    done = subprocess.run(  # the repository's own installer
        [str(RELEASE / "install-cosign.sh"), str(cache / "mcp-platform" / "bin")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder laid out as a build job leaves it: an image Pants recorded, and its SBOM."""
    folder = tmp_path_factory.mktemp("job")
    content = folder / "rootfs"
    (content / "etc").mkdir(parents=True)
    (content / "etc" / "release").write_text(f"built by the release test {time.time()}\n")
    archive = folder / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(content, arcname=".")
    imported = subprocess.run(  # podman with fixed arguments
        [_tool("podman"), "import", "--quiet", str(archive), "localhost/mcp-release-test:1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    image_id = imported.stdout.strip()
    info = folder / "dist" / "src.docker" / "mcp-demo.docker-info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({"version": 1, "image_id": image_id, "registries": []}))
    sbom = folder / "dist" / "supply-chain" / "mcp-demo.cdx.json"
    sbom.parent.mkdir(parents=True)
    sbom.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "metadata": {"component": {"type": "container", "name": "mcp-demo"}},
                "components": [{"type": "library", "name": "mcp", "version": "2.3.0"}],
            }
        )
    )
    yield folder
    subprocess.run(  # podman with fixed arguments
        [_tool("podman"), "rmi", "--force", image_id], capture_output=True, timeout=120
    )


def _script(name: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the repository's own scripts
        [str(RELEASE / name), *args],
        cwd=cwd,
        env={**os.environ, "REGISTRY_TLS_VERIFY": "false", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _get(url: str, accept: str = "application/json") -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        return dict(answer.headers), answer.read()


def _keys(cosign: str, folder: Path, name: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # cosign with fixed arguments
        [cosign, "generate-key-pair", "--output-key-prefix", name],
        cwd=folder,
        env={**os.environ, "COSIGN_PASSWORD": "test"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return folder / f"{name}.key", folder / f"{name}.pub"


def test_push_prints_the_digest_the_registry_serves(registry: str, workdir: Path) -> None:
    done = _script(
        "push-image.sh", "demo", f"{registry}/mcp-platform", cwd=workdir, IMAGE_TAG="abc1234"
    )
    assert done.returncode == 0, done.stderr
    pushed = dict(line.split("=", 1) for line in done.stdout.splitlines())
    repository = f"{registry}/mcp-platform/mcp-demo"
    assert pushed["IMAGE_REPOSITORY"] == repository
    assert pushed["IMAGE_TAG"] == "abc1234"
    headers, _ = _get(
        f"http://{registry}/v2/mcp-platform/mcp-demo/manifests/abc1234", MANIFEST_TYPES
    )
    assert pushed["IMAGE_DIGEST"] == headers["Docker-Content-Digest"]
    assert pushed["IMAGE_REF"] == f"{repository}@{headers['Docker-Content-Digest']}"
    (workdir / "build.env").write_text(done.stdout)


def test_push_without_a_build_says_what_to_run(registry: str, tmp_path: Path) -> None:
    done = _script("push-image.sh", "users", f"{registry}/x", cwd=tmp_path, IMAGE_TAG="t")
    assert done.returncode == 1
    assert "dist/src.docker/mcp-users.docker-info.json is missing" in done.stderr
    assert "./pants package src/docker:mcp-users" in done.stderr


def test_sign_attaches_a_verified_signature_and_sbom_by_digest(
    registry: str, workdir: Path, cosign: str, tmp_path: Path
) -> None:
    pushed = dict(line.split("=", 1) for line in (workdir / "build.env").read_text().splitlines())
    key, public = _keys(cosign, tmp_path / "keys", "signing")
    env = {"COSIGN": cosign, "COSIGN_PASSWORD": "test", "COSIGN_KEY": str(key)}
    sbom = "dist/supply-chain/mcp-demo.cdx.json"
    done = _script(
        "sign-image.sh",
        pushed["IMAGE_REF"],
        sbom,
        cwd=workdir,
        COSIGN_PUBLIC_KEY=str(public),
        **env,
    )
    assert done.returncode == 0, done.stderr
    assert "signed and its SBOM attested" in done.stderr
    # Both stored beside the image, under the digest's tags cosign uses.
    _, body = _get(f"http://{registry}/v2/mcp-platform/mcp-demo/tags/list")
    tags = set(json.loads(body)["tags"])
    stem = pushed["IMAGE_DIGEST"].replace(":", "-")
    assert {f"{stem}.sig", f"{stem}.att", "abc1234"} <= tags, tags
    # Another key's public half does not verify this signature: the check in the script is real.
    _, other = _keys(cosign, tmp_path / "other", "other")
    verify = subprocess.run(  # cosign with fixed arguments
        [
            cosign,
            "verify",
            "--key",
            str(other),
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            pushed["IMAGE_REF"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode != 0
    assert "no matching signatures" in verify.stderr.lower(), verify.stderr
    mismatched = _script(
        "sign-image.sh", pushed["IMAGE_REF"], sbom, cwd=workdir, COSIGN_PUBLIC_KEY=str(other), **env
    )
    assert mismatched.returncode != 0, "signed with one key, verified with another: must fail"


@pytest.mark.parametrize(
    ("reference", "sbom", "message"),
    [
        ("mcp-demo:abc1234", "dist/supply-chain/mcp-demo.cdx.json", "is not a digest reference"),
        (f"mcp-demo@sha256:{'0' * 64}", "dist/none.json", "the SBOM dist/none.json is missing"),
    ],
)
def test_sign_refuses_a_tag_and_a_missing_sbom(
    registry: str, workdir: Path, reference: str, sbom: str, message: str
) -> None:
    refused = _script(
        "sign-image.sh", f"{registry}/mcp-platform/{reference}", sbom, cwd=workdir, COSIGN_KEY="x"
    )
    assert refused.returncode == 1
    assert message in refused.stderr
