"""tools/pip_audit_report.py: `make test`'s dependency audit says what it audited, and fails on
any finding (pip-audit's JSON report in, one line per fact out)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "tools" / "pip_audit_report.py"
_SPEC = importlib.util.spec_from_file_location("pip_audit_report", _PATH)
report_tool = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report_tool)


def skipped(name: str) -> dict:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}


def test_nothing_audited_is_said_in_one_line_and_is_not_a_failure():
    code, lines = report_tool.summarize({"dependencies": [skipped("boto3"), skipped("numpy"), skipped("fastapi")]})
    assert (code, lines) == (
        0,
        ["pip-audit: 0 of 3 packages audited (vulnerability service unreachable) — NOT audited"],
    )


def test_any_known_vulnerability_fails_naming_package_id_and_fix():
    report = {
        "dependencies": [
            {"name": "numpy", "version": "2.2.6", "vulns": []},
            {
                "name": "jinja2",
                "version": "3.1.3",
                "vulns": [
                    {"id": "GHSA-h75v-3vvj-5mfj", "fix_versions": ["3.1.4"], "aliases": ["CVE-2024-34064"]},
                    {"id": "PYSEC-2024-1", "fix_versions": []},
                ],
            },
            skipped("backtest-service"),
        ]
    }
    code, lines = report_tool.summarize(report)
    assert code == 1
    assert lines == [
        "pip-audit: 2 known vulnerabilities in 1 of 2 audited packages",
        "  jinja2 3.1.3: GHSA-h75v-3vvj-5mfj (fixed in 3.1.4)",
        "  jinja2 3.1.3: PYSEC-2024-1 (no fixed version)",
    ]


def test_a_clean_audit_counts_what_it_audited_and_names_what_it_could_not():
    report = {
        "dependencies": [
            {"name": "numpy", "version": "2.2.6", "vulns": []},
            {"name": "boto3", "version": "1.43.11", "vulns": []},
            skipped("local-package"),
        ]
    }
    assert report_tool.summarize(report) == (
        0,
        ["pip-audit: 2 of 3 packages audited, no known vulnerabilities; not audited: local-package"],
    )
