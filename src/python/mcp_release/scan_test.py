from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

from mcp_release import scan
from mcp_release.allowlist import Accepted

TODAY = dt.date(2026, 12, 4)


def _report(*vulnerabilities: tuple[str, str, str]) -> dict[str, object]:
    """A report in Trivy's JSON format (schema version 2): (id, package, severity) each."""
    return {
        "SchemaVersion": 2,
        "ArtifactName": "mcp-users.cdx.json",
        "ArtifactType": "cyclonedx",
        "Results": [
            {
                "Target": "mcp-users.cdx.json (debian 12.15)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": vid,
                        "PkgName": package,
                        "InstalledVersion": "1.0",
                        "FixedVersion": "1.1",
                        "Severity": severity,
                        "Title": f"{vid} in {package}",
                    }
                    for vid, package, severity in vulnerabilities
                ],
            },
            {"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg"},
        ],
    }


def test_high_and_critical_block_lower_severities_do_not() -> None:
    verdict = scan.judge(
        "img",
        _report(
            ("CVE-1", "libssl3", "CRITICAL"),
            ("CVE-2", "zlib1g", "HIGH"),
            ("CVE-3", "tar", "MEDIUM"),
        ),
        [],
        TODAY,
    )
    assert verdict.status == "failed"
    assert [(f.id, f.package) for f in verdict.blocking] == [
        ("CVE-1", "libssl3"),
        ("CVE-2", "zlib1g"),
    ]
    assert verdict.counts == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1}
    table = scan.table([verdict])
    assert "img: CRITICAL CVE-1 in libssl3 1.0 (fixed in 1.1)" in table


def test_an_unexpired_entry_accepts_its_finding_and_an_expired_one_blocks_again() -> None:
    report = _report(("CVE-1", "libssl3", "HIGH"))
    valid = Accepted("CVE-1", "not reachable", dt.date(2027, 1, 31))
    passed = scan.judge("img", report, [valid], TODAY)
    assert (passed.status, [f.id for f in passed.accepted], passed.blocking) == (
        "passed",
        ["CVE-1"],
        [],
    )
    stale = Accepted("CVE-1", "not reachable", dt.date(2026, 12, 3))
    failed = scan.judge("img", report, [stale], TODAY)
    assert failed.status == "failed"
    assert failed.expired == ["CVE-1 (expired 2026-12-03: not reachable)"]
    assert "allow-list entry CVE-1 (expired 2026-12-03" in scan.table([failed])
    other_package = Accepted("CVE-1", "only in zlib", dt.date(2027, 1, 31), package="zlib1g")
    assert scan.judge("img", report, [other_package], TODAY).status == "failed"


def test_no_scanner_is_a_not_scanned_verdict_that_says_why(tmp_path: Path) -> None:
    verdict = scan.scan("img", tmp_path / "sbom.json", [], TODAY, trivy=str(tmp_path / "no-trivy"))
    assert verdict.status == "not-scanned"
    assert "no-trivy" in verdict.reason


def _fake_trivy(tmp_path: Path, report: dict[str, object], exit_code: int = 0) -> Path:
    # Trivy cannot run here (no vulnerability database can be fetched); this stands in for its
    # command line only: it checks the arguments it is given and prints a report in its format.
    script = tmp_path / "trivy"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "if sys.argv[1:] == ['--version']:\n"
        "    print('Version: 0.58.0'); sys.exit(0)\n"
        "assert sys.argv[1:6] == ['sbom', '--quiet', '--format', 'json', '--scanners'], sys.argv\n"
        "assert sys.argv[6:7] == ['vuln'] and sys.argv[7].endswith('.cdx.json'), sys.argv\n"
        f"print(json.dumps({report!r}))\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_the_scan_runs_trivy_on_the_sbom_and_judges_its_report(tmp_path: Path) -> None:
    sbom = tmp_path / "mcp-users.cdx.json"
    sbom.write_text("{}")
    trivy = _fake_trivy(tmp_path, _report(("CVE-9", "libc6", "CRITICAL")))
    verdict = scan.scan("img", sbom, [], TODAY, trivy=str(trivy))
    assert (verdict.status, verdict.scanner, [f.id for f in verdict.blocking]) == (
        "failed",
        "Version: 0.58.0",
        ["CVE-9"],
    )
    broken = _fake_trivy(tmp_path, {}, exit_code=1)
    assert scan.scan("img", sbom, [], TODAY, trivy=str(broken)).status == "not-scanned"
    assert json.loads(json.dumps(verdict.as_json()))["blocking"][0]["package"] == "libc6"
