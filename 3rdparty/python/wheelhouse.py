"""Fill the local wheelhouse that the lockfiles point at.

Why a wheelhouse: a Pex lockfile records where each artifact came from. Locked straight from
the package index, it would carry the index's file URLs; locked from this wheelhouse through
`[python-repos] path_mappings`, it records `file://${WHEELHOUSE}/<file>` and a sha256, which
are the same on every machine. pip fills the wheelhouse from the index configured for pip, by
the exact name, version and hash that the lockfile pins, so what Pants installs is still
exactly what was locked.

    wheelhouse.py fetch DIR LOCK...   download every artifact the lockfiles pin (by hash), and
                                      the pip/setuptools/wheel Pex bootstraps its resolver from
                                      (bootstrap-requirements.txt, by exact version)
    wheelhouse.py seed DIR REQS...    download the newest wheels the requirement files allow,
                                      before `./pants generate-lockfiles` picks among them

Runs on the project's interpreter (CPython 3.11), so pip picks the artifacts it will run.
Files are downloaded into a scratch folder and moved in only once pip verified them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _locked_requirements(lock: Path) -> list[str]:
    """`name==version --hash=...` lines for every artifact pinned in a Pex lockfile."""
    text = "\n".join(
        line for line in lock.read_text().splitlines() if not line.startswith("//")
    )
    lines = []
    for resolve in json.loads(text)["locked_resolves"]:
        for requirement in resolve["locked_requirements"]:
            hashes = " ".join(
                f"--hash={artifact['algorithm']}:{artifact['hash']}"
                for artifact in requirement["artifacts"]
            )
            lines.append(f"{requirement['project_name']}=={requirement['version']} {hashes}")
    return lines


def _pip_download(target: Path, args: list[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".partial-") as scratch:
        # Files already in the wheelhouse are copied, not downloaded again.
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", scratch]
        command += ["--find-links", str(target), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"wheelhouse: pip download failed (exit {result.returncode})")
        for artifact in Path(scratch).iterdir():
            os.replace(artifact, target / artifact.name)


BOOTSTRAP = Path(__file__).with_name("bootstrap-requirements.txt")


def fetch(target: Path, locks: list[Path]) -> None:
    # One pip run per lockfile: resolves are independent and may pin different versions of
    # the same project, which pip refuses in a single requirements file.
    for lock in locks:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pinned:
            pinned.write("\n".join(sorted(_locked_requirements(lock))) + "\n")
        try:
            _pip_download(target, ["--no-deps", "--require-hashes", "-r", pinned.name])
        finally:
            os.unlink(pinned.name)
    _pip_download(target, ["--no-deps", "--only-binary=:all:", "-r", str(BOOTSTRAP)])


def seed(target: Path, requirement_files: list[Path]) -> None:
    args = [arg for path in requirement_files for arg in ("-r", str(path))]
    _pip_download(target, ["--only-binary=:all:", *args])


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] not in ("fetch", "seed"):
        raise SystemExit(__doc__)
    command, target, paths = argv[0], Path(argv[1]), [Path(p) for p in argv[2:]]
    if sys.version_info[:2] != (3, 11):
        raise SystemExit("wheelhouse: run this with CPython 3.11, the interpreter the project runs on")
    (fetch if command == "fetch" else seed)(target, paths)


if __name__ == "__main__":
    main(sys.argv[1:])
