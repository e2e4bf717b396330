"""`python -m mcp_release`: the supply-chain records of the service images.

    sbom IMAGE --out FILE [--lock LOCK ...]          CycloneDX SBOM of one image in podman
    scan SBOM [SBOM ...] --out-dir DIR [--allowlist F] [--require-scanner]
    images DOCKER_INFO.json [...] --out-dir DIR [--sbom-only]   both, for each image Pants built

`images` reads the `*.docker-info.json` files `./pants package` writes for each image
(dist/src.docker/) and writes `<name>.cdx.json` and `<name>.scan.json` into DIR, then prints a
table. Exit codes: 0 written (and no blocking finding), 1 a blocking finding, or no scanner with
--require-scanner, 2 bad input (the message says which).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_release import allowlist, image, sbom, scan

DEFAULT_LOCKS = [Path("3rdparty/python/services.lock")]
DEFAULT_ALLOWLIST = Path("security/allowlist.yaml")


def _write(path: Path, document: object) -> None:
    # Written whole or not at all: a half-written SBOM must never be published.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    partial.replace(path)


def write_sbom(name: str, out: Path, locks: Sequence[Path]) -> dict[str, object]:
    """Read image `name` from podman and write its validated SBOM to `out`.

    Raises:
        image.ImageError, sbom.SbomError: the image cannot be read or described.
    """
    document = sbom.build(image.inspect(name), locks)
    sbom.validate(document)
    _write(out, document)
    return document


def stem(name: str) -> str:
    """`mcp-platform/mcp-users:0.1.0` -> `mcp-users`."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def images_built(info_files: Sequence[Path]) -> list[str]:
    """The image names (repository:tag) that Pants' docker-info files record."""
    names = []
    for path in info_files:
        info = json.loads(path.read_text())
        for registry in info.get("registries", []):
            names += [tag["name"] for tag in registry.get("tags", [])[:1]]
    return names


def scan_all(sboms: dict[str, Path], out_dir: Path, allowed: Path, require_scanner: bool) -> int:
    entries = allowlist.load(allowed)
    today = dt.datetime.now(dt.UTC).date()
    verdicts = []
    for name, path in sboms.items():
        verdict = scan.scan(name, path, entries, today)
        _write(out_dir / f"{stem(name)}.scan.json", verdict.as_json())
        verdicts.append(verdict)
    print(scan.table(verdicts))
    if any(v.status == "failed" for v in verdicts):
        return 1
    if require_scanner and any(v.status == "not-scanned" for v in verdicts):
        print("scan: no scanner ran; this job requires one (trivy)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcp-release", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("sbom", help="CycloneDX SBOM of one image")
    one.add_argument("image")
    one.add_argument("--out", type=Path, required=True)
    check = commands.add_parser("scan", help="scan SBOMs against the allow-list")
    check.add_argument("sboms", nargs="+", type=Path)
    every = commands.add_parser("images", help="SBOM and scan of each image Pants built")
    every.add_argument("info_files", nargs="+", type=Path)
    every.add_argument("--sbom-only", action="store_true", help="write the SBOMs, scan nothing")
    for command in (one, every):
        command.add_argument("--lock", type=Path, action="append", help="default: services.lock")
    for command in (check, every):
        command.add_argument("--out-dir", type=Path, required=True)
        command.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST)
        command.add_argument("--require-scanner", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "sbom":
            document = write_sbom(args.image, args.out, args.lock or DEFAULT_LOCKS)
            print(f"sbom: {args.out} ({len(document['components'])} components)")  # type: ignore[arg-type]
            return 0
        if args.command == "scan":
            sboms = {
                json.loads(p.read_text())["metadata"]["component"]["name"]: p for p in args.sboms
            }
            return scan_all(sboms, args.out_dir, args.allowlist, args.require_scanner)
        sboms = {}
        for name in images_built(args.info_files):
            path = args.out_dir / f"{stem(name)}.cdx.json"
            document = write_sbom(name, path, args.lock or DEFAULT_LOCKS)
            print(f"sbom: {path} ({len(document['components'])} components)")  # type: ignore[arg-type]
            sboms[name] = path
        if args.sbom_only:
            return 0
        return scan_all(sboms, args.out_dir, args.allowlist, args.require_scanner)
    except (image.ImageError, sbom.SbomError, allowlist.AllowlistError, OSError, ValueError) as exc:
        print(f"mcp-release: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
