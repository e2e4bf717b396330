"""Vulnerability scan of an image's SBOM, judged against the accepted-findings list.

The scanner is Trivy (`trivy sbom`, JSON report): it reads the CycloneDX document this package
writes (Debian packages by purl and source package, Python packages by purl), so the scan covers
exactly what the SBOM says the image holds, and the image itself need not be pulled again.

The verdict: a HIGH or CRITICAL finding blocks unless an unexpired allow-list entry covers it; an
entry past its date no longer covers anything and is reported as expired. Where Trivy (or its
vulnerability database) is not available, the report says `not-scanned` and why; the pipeline's
scan job passes `require_scanner` and fails then.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_release.allowlist import Accepted

BLOCKING_SEVERITIES = ("CRITICAL", "HIGH")
Status = Literal["passed", "failed", "not-scanned"]


class ScannerUnavailable(RuntimeError):
    """Trivy is not installed, or could not scan (its database could not be fetched)."""


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    installed: str
    severity: str
    fixed: str = ""
    title: str = ""


@dataclass
class Verdict:
    image: str
    status: Status
    scanner: str = ""
    reason: str = ""
    blocking: list[Finding] = field(default_factory=list)
    accepted: list[Finding] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def findings(report: dict[str, Any]) -> list[Finding]:
    """Every vulnerability in a Trivy JSON report (schema version 2)."""
    found = []
    for result in report.get("Results") or []:
        for vulnerability in result.get("Vulnerabilities") or []:
            found.append(
                Finding(
                    id=str(vulnerability.get("VulnerabilityID", "")),
                    package=str(vulnerability.get("PkgName", "")),
                    installed=str(vulnerability.get("InstalledVersion", "")),
                    severity=str(vulnerability.get("Severity", "UNKNOWN")).upper(),
                    fixed=str(vulnerability.get("FixedVersion", "")),
                    title=str(vulnerability.get("Title", ""))[:200],
                )
            )
    return found


def judge(
    image: str,
    report: dict[str, Any],
    accepted: Iterable[Accepted],
    today: dt.date,
    scanner: str = "trivy",
) -> Verdict:
    """The verdict on one image's report under the allow-list, as of `today`."""
    entries = list(accepted)
    verdict = Verdict(image=image, status="passed", scanner=scanner)
    expired_used: set[str] = set()
    for finding in findings(report):
        verdict.counts[finding.severity] = verdict.counts.get(finding.severity, 0) + 1
        if finding.severity not in BLOCKING_SEVERITIES:
            continue
        covering = [entry for entry in entries if entry.covers(finding.id, finding.package)]
        if any(not entry.expired(today) for entry in covering):
            verdict.accepted.append(finding)
            continue
        expired_used.update(
            f"{e.id} (expired {e.expires.isoformat()}: {e.reason})" for e in covering
        )
        verdict.blocking.append(finding)
    verdict.expired = sorted(expired_used)
    if verdict.blocking:
        verdict.status = "failed"
    return verdict


def trivy_version(trivy: str) -> str:
    try:
        done = subprocess.run(  # trivy with fixed arguments
            [trivy, "--version"], capture_output=True, text=True, timeout=60  # noqa: S603
        )
    except (OSError, subprocess.TimeoutExpired):
        return "trivy"
    return done.stdout.splitlines()[0].strip() if done.stdout else "trivy"


def run_trivy(sbom: Path, trivy: str | None = None) -> tuple[str, dict[str, Any]]:
    """(scanner version, Trivy's JSON report) of scanning the SBOM file.

    Raises:
        ScannerUnavailable: Trivy is not on PATH or it failed (no vulnerability database).
    """
    trivy = trivy or shutil.which("trivy")
    if not trivy:
        raise ScannerUnavailable("trivy is not on PATH")
    try:
        command = [trivy, "sbom", "--quiet", "--format", "json", "--scanners", "vuln", str(sbom)]
        done = subprocess.run(  # trivy with fixed arguments
            command,  # noqa: S603
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScannerUnavailable(f"trivy could not run: {exc}") from exc
    if done.returncode != 0:
        raise ScannerUnavailable(f"trivy failed: {done.stderr.strip()[-500:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ScannerUnavailable(f"trivy printed no JSON report: {exc}") from exc
    return trivy_version(trivy), report


def scan(
    image: str, sbom: Path, accepted: Iterable[Accepted], today: dt.date, trivy: str | None = None
) -> Verdict:
    """Scan one SBOM; a missing scanner gives a `not-scanned` verdict saying why."""
    try:
        scanner, report = run_trivy(sbom, trivy)
    except ScannerUnavailable as exc:
        return Verdict(image=image, status="not-scanned", reason=str(exc))
    return judge(image, report, accepted, today, scanner)


def table(verdicts: Iterable[Verdict]) -> str:
    """A plain table of the verdicts, one image a line, then each blocking finding."""
    lines = [f"{'image':<34} {'status':<12} {'critical':>8} {'high':>6} {'accepted':>8}  note"]
    details = []
    for v in verdicts:
        note = v.reason or (f"{len(v.expired)} expired allow-list entr(ies)" if v.expired else "")
        lines.append(
            f"{v.image:<34} {v.status:<12} {v.counts.get('CRITICAL', 0):>8} {v.counts.get('HIGH', 0):>6}"
            f" {len(v.accepted):>8}  {note}"
        )
        details += [
            f"  {v.image}: {f.severity} {f.id} in {f.package} {f.installed}"
            + (f" (fixed in {f.fixed})" if f.fixed else "")
            for f in v.blocking
        ]
        details += [
            f"  {v.image}: allow-list entry {entry} no longer applies" for entry in v.expired
        ]
    return "\n".join(lines + details)
