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


def _import_once(code_dir: Path, module: str, env: dict[str, str], importtime: bool) -> tuple[float, str]:
    code = (
        "import sys, time; "
        f"sys.path.insert(0, {str(code_dir)!r}); "
        "t = time.perf_counter(); "
        f"import {module}; "
        "print((time.perf_counter() - t) * 1000)"
    )
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(result.stdout.strip()), result.stderr


def _heaviest(importtime_log: str, count: int = 3) -> str:
    """Top-level packages by cumulative import time (microseconds in -X importtime's log)."""
    totals: dict[str, int] = {}
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 1:
            totals[match.group(3)] = int(match.group(1))
    top = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in top)


def main(runs: int = 5) -> None:
    # Lambda loads the layers' precompiled bytecode (see the layer Makefiles); compile ours the same
    # way so a PYTHONDONTWRITEBYTECODE environment does not time the compiler instead of the imports.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "adapters", "functions"], cwd=ROOT, check=True)
    template = Template.load()
    print(f"{'handler':<24}{'median ms':>10}{'min ms':>8}{'max ms':>8}  {'target':<8}heaviest imports (ms)")
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        module = props["Handler"].rpartition(".")[0]
        env = {**os.environ, **template.function_environment(logical_id), "PYTHONPATH": str(ROOT),
               "AWS_DEFAULT_REGION": "us-east-1"}
        times = [_import_once(ROOT / props["CodeUri"], module, env, importtime=False)[0] for _ in range(runs)]
        _, log = _import_once(ROOT / props["CodeUri"], module, env, importtime=True)
        median = statistics.median(times)
        verdict = "ok" if median <= TARGET_MS else "OVER"
        print(f"{logical_id:<24}{median:>10.0f}{min(times):>8.0f}{max(times):>8.0f}  {verdict:<8}{_heaviest(log)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
