"""A CycloneDX 1.6 SBOM of one service image: its Debian packages and its Python packages.

Where each part comes from, and why:
- Debian packages: the image's own `/var/lib/dpkg/status` (what the base really installed, not
  what a Dockerfile asked for), with the OS release as the `operating-system` component. Each
  carries the purl `pkg:deb/debian/<name>@<version>?arch=..&distro=debian-<release>` and its
  source package (`aquasecurity:trivy:SrcName`/`SrcVersion`), which is what Debian's security
  tracker, and so a scanner, keys advisories by.
- Python packages: the distributions installed in the service's virtualenv (`/app`), matched to
  the lockfile (`3rdparty/python/services.lock`) through the wheel file names the PEX recorded
  (`/app/PEX-INFO`): each gets the lock's SHA-256 of the artifact that was installed. A package
  in the image that the lock does not name is an error: everything shipped comes from the lock.
- The interpreter of an official `python:*` base is not a Debian package; it is recorded from
  the image's `PYTHON_VERSION` as `pkg:generic/cpython@<version>`.

The document is deterministic for one image (timestamp = the image's creation time, serial
number derived from the image id), so rebuilding the SBOM of the same image gives the same file.
"""

from __future__ import annotations

import email.parser
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mcp_release.image import DEBIAN_VERSION, DPKG_STATUS, OS_RELEASE, PEX_INFO, ImageFacts

SPEC_VERSION = "1.6"
TOOL = {"type": "application", "name": "mcp-release", "version": "0.1.0"}
# uuid5 namespace for the serial numbers: one image id, one serial number.
SERIAL_NAMESPACE = uuid.UUID("4f1d7a3c-0f0e-4b7e-9d59-6a64b7d1f2a1")


class SbomError(ValueError):
    """The image cannot be described truthfully (a package the lock does not name, no dpkg)."""


@dataclass(frozen=True)
class LockedArtifact:
    project: str
    version: str
    sha256: str


def normalize(project: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", project).lower()


def read_locks(paths: Iterable[Path]) -> tuple[dict[str, LockedArtifact], dict[str, str]]:
    """From Pex lockfiles: artifacts by file name, and locked versions by normalized project."""
    by_file: dict[str, LockedArtifact] = {}
    versions: dict[str, str] = {}
    for path in paths:
        # Pants writes a `//` comment header above the JSON.
        text = "".join(
            line for line in path.read_text().splitlines(True) if not line.startswith("//")
        )
        for resolve in json.loads(text)["locked_resolves"]:
            for requirement in resolve["locked_requirements"]:
                project = normalize(requirement["project_name"])
                versions[project] = requirement["version"]
                for artifact in requirement["artifacts"]:
                    if artifact.get("algorithm") != "sha256":
                        continue
                    name = artifact["url"].rsplit("/", 1)[-1]
                    by_file[name] = LockedArtifact(
                        project, requirement["version"], artifact["hash"]
                    )
    return by_file, versions


def dpkg_packages(status: str) -> Iterator[dict[str, str]]:
    """The installed packages of a dpkg status file, one dict of fields each."""
    for paragraph in status.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t"):
                if key:
                    fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            yield fields


def os_release(image: ImageFacts) -> tuple[str, str]:
    """(id, version) of the image's OS, e.g. ('debian', '12.8')."""
    text = next((t for p in OS_RELEASE if (t := image.text(p)) is not None), None)
    if text is None:
        raise SbomError(f"{image.name}: no os-release file; not a Debian-based image")
    fields = dict(
        (k, v.strip().strip('"'))
        for k, _, v in (line.partition("=") for line in text.splitlines())
        if k
    )
    version = (image.text(DEBIAN_VERSION) or fields.get("VERSION_ID", "")).strip()
    return fields.get("ID", "linux"), version


def _purl_version(version: str) -> str:
    return quote(version, safe=".+~-")


def debian_components(image: ImageFacts, distro: str) -> list[dict[str, Any]]:
    status = image.text(DPKG_STATUS)
    if status is None:
        raise SbomError(f"{image.name}: no {DPKG_STATUS}; the base's packages cannot be listed")
    components = []
    for fields in dpkg_packages(status):
        name, version, arch = (
            fields["Package"],
            fields.get("Version", ""),
            fields.get("Architecture", ""),
        )
        purl = f"pkg:deb/debian/{name}@{_purl_version(version)}?arch={arch}&distro={distro}"
        # `Source: name (version)` when the source differs from the binary package.
        source, _, source_version = fields.get("Source", name).partition(" ")
        source_version = source_version.strip("()") or version
        components.append(
            {
                "type": "library",
                "bom-ref": purl,
                "name": name,
                "version": version,
                "purl": purl,
                "properties": [
                    {"name": "aquasecurity:trivy:SrcName", "value": source},
                    {"name": "aquasecurity:trivy:SrcVersion", "value": source_version},
                ],
            }
        )
    return components


def python_components(
    image: ImageFacts, by_file: dict[str, LockedArtifact], versions: dict[str, str]
) -> list[dict[str, Any]]:
    """The image's Python distributions, each with its locked artifact's SHA-256.

    Raises:
        SbomError: a distribution in the image is not the version the lock names.
    """
    installed_files: dict[str, str] = {}
    pex_info = image.text(PEX_INFO)
    if pex_info is not None:
        for wheel in json.loads(pex_info).get("distributions", {}):
            installed_files[normalize(wheel.split("-", 1)[0])] = wheel
    parser = email.parser.HeaderParser()
    components = []
    for path, text in image.dist_metadata():
        metadata = parser.parsestr(text)
        name, version = metadata.get("Name", ""), metadata.get("Version", "")
        if not name:
            raise SbomError(f"{image.name}: {path} names no distribution")
        project = normalize(name)
        locked = versions.get(project)
        if locked != version:
            raise SbomError(
                f"{image.name}: {name} {version} is in the image but the lock "
                + (f"pins {locked}" if locked else "does not name it")
                + "; every shipped package must come from the lockfile"
            )
        purl = f"pkg:pypi/{project}@{_purl_version(version)}"
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        }
        artifact = by_file.get(installed_files.get(project, ""))
        if artifact is not None:
            component["hashes"] = [{"alg": "SHA-256", "content": artifact.sha256}]
        if license_ := metadata.get("License-Expression") or metadata.get("License"):
            if len(license_) <= 100 and "\n" not in license_:
                component["licenses"] = [{"license": {"name": license_}}]
        components.append(component)
    return components


def build(image: ImageFacts, locks: Iterable[Path]) -> dict[str, Any]:
    """The CycloneDX document for `image`.

    Raises:
        SbomError: the image cannot be described from its files and the locks.
    """
    by_file, versions = read_locks(locks)
    os_id, os_version = os_release(image)
    distro = f"{os_id}-{os_version}"
    components: list[dict[str, Any]] = [
        {
            "type": "operating-system",
            "bom-ref": f"os:{distro}",
            "name": os_id,
            "version": os_version,
        }
    ]
    components += debian_components(image, distro)
    if python_version := image.env.get("PYTHON_VERSION"):
        purl = f"pkg:generic/cpython@{_purl_version(python_version)}"
        components.append(
            {
                "type": "application",
                "bom-ref": purl,
                "name": "cpython",
                "version": python_version,
                "purl": purl,
            }
        )
    components += python_components(image, by_file, versions)
    repository, _, tag = image.name.rpartition(":")
    subject: dict[str, Any] = {
        "type": "container",
        "bom-ref": "image",
        "name": repository or image.name,
        "version": tag,
        "hashes": [{"alg": "SHA-256", "content": image.image_id}],
        "properties": [
            {"name": key, "value": value} for key, value in sorted(image.labels.items())
        ],
    }
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, image.image_id)}",
        "version": 1,
        "metadata": {
            "timestamp": image.created[:19] + "Z" if image.created else "1970-01-01T00:00:00Z",
            "tools": {"components": [TOOL]},
            "component": subject,
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": [c["bom-ref"] for c in components]}],
    }


def validate(document: dict[str, Any]) -> None:
    """Check the document against the official CycloneDX 1.6 JSON schema (bundled, offline).

    Raises:
        SbomError: the document does not conform; the message quotes the schema's complaint.
    """
    # Imported here: the schema files load on first use, and only writing an SBOM needs them.
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise SbomError(f"the SBOM does not conform to CycloneDX {SPEC_VERSION}: {error}")
