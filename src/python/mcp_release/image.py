"""What a built container image holds, read without running it.

The image's file system is streamed out of podman (`podman create` + `podman export`) and only
the files an SBOM needs are kept: Debian's package database, the OS release, and the Python
distributions' metadata under the service's virtualenv (`/app`, see src/docker/BUILD). Reading a
tar stream works rootless and in a CI container alike, where `podman image mount` does not.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The files an SBOM is made from; dist-info METADATA files are matched by suffix.
DPKG_STATUS = "var/lib/dpkg/status"
OS_RELEASE = ("usr/lib/os-release", "etc/os-release")
DEBIAN_VERSION = "etc/debian_version"
PEX_INFO = "app/PEX-INFO"
METADATA_SUFFIX = ".dist-info/METADATA"
SITE_PACKAGES = "/site-packages/"


class ImageError(RuntimeError):
    """The image could not be read (podman failed, or the image is not one of ours)."""


@dataclass(frozen=True)
class ImageFacts:
    """An image's identity and the package files read out of it."""

    name: str
    image_id: str
    created: str
    labels: dict[str, str]
    env: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)

    def text(self, path: str) -> str | None:
        data = self.files.get(path)
        return data.decode("utf-8", "replace") if data is not None else None

    def dist_metadata(self) -> Iterator[tuple[str, str]]:
        """(path, METADATA text) of every installed Python distribution, sorted by path."""
        for path in sorted(self.files):
            if path.endswith(METADATA_SUFFIX) and SITE_PACKAGES in path:
                yield path, self.files[path].decode("utf-8", "replace")


def wanted(path: str) -> bool:
    """Whether `path` (relative, as in the image's tar stream) is a file an SBOM needs."""
    path = path.removeprefix("./")
    return path in (DPKG_STATUS, DEBIAN_VERSION, PEX_INFO, *OS_RELEASE) or (
        path.endswith(METADATA_SUFFIX) and SITE_PACKAGES in path
    )


def read_tar(stream: Iterable[tarfile.TarInfo], archive: tarfile.TarFile) -> dict[str, bytes]:
    """The wanted regular files of a streamed tar archive, by path."""
    files: dict[str, bytes] = {}
    for member in stream:
        name = member.name.removeprefix("./")
        if member.isfile() and wanted(name):
            extracted = archive.extractfile(member)
            if extracted is not None:
                files[name] = extracted.read()
    return files


def read_root(root: Path) -> dict[str, bytes]:
    """The wanted files of an unpacked root file system (a folder)."""
    files: dict[str, bytes] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and wanted(relative):
            files[relative] = path.read_bytes()
    return files


def _podman(*args: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(  # podman with fixed arguments
            ["podman", *args], capture_output=True, text=True, timeout=timeout  # noqa: S603, S607
        )
    except FileNotFoundError as exc:
        raise ImageError("podman is not installed (Debian: apt-get install podman)") from exc
    if done.returncode != 0:
        raise ImageError(f"podman {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def inspect(name: str) -> ImageFacts:
    """An image in podman's storage, with its package files read out of it.

    Raises:
        ImageError: podman failed or the image does not exist.
    """
    details = json.loads(_podman("image", "inspect", name))[0]
    config = details.get("Config") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    container = _podman("create", "--quiet", name).strip()
    try:
        with subprocess.Popen(  # podman with fixed arguments
            ["podman", "export", container], stdout=subprocess.PIPE  # noqa: S603, S607
        ) as export:
            if export.stdout is None:
                raise ImageError("podman export gave no output stream")
            with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
                files = read_tar(archive, archive)
            if export.wait(timeout=120) != 0:
                raise ImageError(f"podman export of {name} failed")
    finally:
        _podman("rm", "--force", container)
    return ImageFacts(
        name=name,
        image_id=str(details["Id"]).removeprefix("sha256:"),
        created=str(details.get("Created", "")),
        labels=dict(config.get("Labels") or details.get("Labels") or {}),
        env=env,
        files=files,
    )
