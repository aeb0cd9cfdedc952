"""pip-audit, told truthfully: what `make test` runs instead of a bare `pip-audit`.

A bare pip-audit prints "Dependency not found on PyPI and could not be audited" for every
package when the vulnerability service cannot be reached (CI here has no internet), then "No
known vulnerabilities found" and exits 0: a green that audited nothing. This runs pip-audit with
the arguments given (JSON to a temporary file) and prints one line of what really happened:

- any known vulnerability: each one, and exit 1;
- nothing audited: "pip-audit: 0 of N packages audited (vulnerability service unreachable) —
  NOT audited", exit 0 with that notice;
- otherwise how many were audited (and which could not be), exit 0.

pip-audit failing on its own (bad requirements, a crash) exits with its code and its error.

    python tools/pip_audit_report.py -r layers/dependencies/requirements.txt -r requirements/dev.txt
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - runs pip-audit from this venv with our own arguments
import sys
import tempfile
from pathlib import Path
from typing import Any


def summarize(report: dict[str, Any]) -> tuple[int, list[str]]:
    """(exit code, lines to print) for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    total, audited = len(dependencies), len(dependencies) - len(skipped)
    if vulnerable:
        lines = [
            f"pip-audit: {sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities in "
            f"{len(vulnerable)} of {audited} audited packages"
        ]
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                fixes = vuln.get("fix_versions") or []
                fix = f"fixed in {', '.join(fixes)}" if fixes else "no fixed version"
                lines.append(f"  {dependency['name']} {dependency.get('version', '?')}: {vuln['id']} ({fix})")
        return 1, lines
    if total and not audited:
        return 0, [f"pip-audit: 0 of {total} packages audited (vulnerability service unreachable) — NOT audited"]
    line = f"pip-audit: {audited} of {total} packages audited, no known vulnerabilities"
    if skipped:
        line += f"; not audited: {', '.join(sorted(d['name'] for d in skipped))}"
    return 0, [line]


def main(arguments: list[str]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--progress-spinner",
            "off",
            "--no-deps",
            "--disable-pip",
            *arguments,
            "--format",
            "json",
            "--output",
            str(output),
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603 - fixed argv
        if not output.exists() or finished.returncode not in (0, 1):
            sys.stderr.write(finished.stderr[-4000:])
            return finished.returncode or 2
        code, lines = summarize(json.loads(output.read_text()))
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
