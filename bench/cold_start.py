"""Cold import time of each Lambda handler module, in fresh processes.

A Lambda cold start pays the handler module's imports once per execution environment. For
each function of the template this imports the handler in a new interpreter (its CodeUri on
sys.path, its template environment), RUNS times, and prints the median and the heaviest
top-level imports reported by `python -X importtime`. Target: <= 300 ms per handler.

    .venv/bin/python bench/cold_start.py [RUNS]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.template import Template  # noqa: E402

TARGET_MS = 300


# What any handler that talks to AWS pays anyway: boto3 and one client (endpoint rules, models).
REFERENCE = "import boto3; boto3.client('dynamodb')"


def _time_once(code_dir: Path, statement: str, env: dict[str, str], importtime: bool) -> tuple[float, str]:
    code = (
        "import sys, time; "
        f"sys.path.insert(0, {str(code_dir)!r}); "
        "t = time.perf_counter(); "
        f"{statement}; "
        "print((time.perf_counter() - t) * 1000)"
    )
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(result.stdout.strip()), result.stderr


def _heaviest(importtime_log: str, count: int = 4) -> str:
    """Packages by the cumulative time of their first import (-X importtime logs microseconds)."""
    totals: dict[str, int] = {}
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)$", line)
        if match and "." not in match.group(2) and match.group(2) not in ("app", "site", "encodings"):
            totals[match.group(2)] = max(totals.get(match.group(2), 0), int(match.group(1)))
    top = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in top)


def _row(name: str, code_dir: Path, statement: str, env: dict[str, str], runs: int, reference: float | None) -> float:
    times = [_time_once(code_dir, statement, env, importtime=False)[0] for _ in range(runs)]
    _, log = _time_once(code_dir, statement, env, importtime=True)
    median = statistics.median(times)
    ratio = f"{median / reference:>6.2f}x" if reference else "   ref "
    verdict = "ok" if median <= TARGET_MS else "OVER"
    print(f"{name:<26}{median:>8.0f}{min(times):>7.0f}{max(times):>7.0f} {ratio}  {verdict:<5}{_heaviest(log)}")
    return median


def main(runs: int = 5) -> None:
    # Lambda loads the layers' precompiled bytecode (see the layer Makefiles); compile ours the same
    # way so a PYTHONDONTWRITEBYTECODE environment does not time the compiler instead of the imports.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "adapters", "functions"], cwd=ROOT, check=True)
    template = Template.load()
    base_env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1"}
    print(f"{'cold import':<26}{'median':>8}{'min':>7}{'max':>7} {'vs ref':>7}  {'<=300':<5}heaviest packages (ms)")
    reference = _row("boto3 + a client (ref)", ROOT, REFERENCE, base_env, runs, None)
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        env = {**base_env, **template.function_environment(logical_id)}
        module = props["Handler"].rpartition(".")[0]
        _row(logical_id, ROOT / props["CodeUri"], f"import {module}", env, runs, reference)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
