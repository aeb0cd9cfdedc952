"""Cold import time of each Lambda handler module, in fresh processes.

A Lambda cold start pays the handler module's imports once per execution environment. For
each function of the template this builds the layers as `sam build` does and imports the
handler in a new isolated interpreter (its CodeUri and its layers on sys.path, nothing else; its
template environment and the variables the Lambda runtime sets), RUNS times, and
prints the median and the heaviest packages reported by `python -X importtime`, beside a
reference in the same run (boto3 and one client). Target: <= 300 ms per handler.

    .venv/bin/python bench/cold_start.py [RUNS]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.package_size import build_layers  # noqa: E402
from local.template import Template  # noqa: E402

TARGET_MS = 300


# What any handler that talks to AWS pays anyway: boto3 and one client (endpoint rules, models).
REFERENCE = "import boto3; boto3.client('dynamodb')"


def _time_once(paths: list[Path], statement: str, env: dict[str, str], importtime: bool) -> tuple[float, str]:
    """Time `statement` in a fresh isolated interpreter (-I -S: no site-packages) whose import path
    is `paths`, as Lambda's is the function's code and its layers."""
    code = (
        "import sys, time; "
        f"sys.path[:0] = {[str(p) for p in paths]!r}; "
        "t = time.perf_counter(); "
        f"{statement}; "
        "print((time.perf_counter() - t) * 1000)"
    )
    args = [sys.executable, "-I", "-S"] + (["-X", "importtime"] if importtime else []) + ["-c", code]
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


def _row(
    name: str, paths: list[Path], statement: str, env: dict[str, str], runs: int, reference: float | None
) -> float:
    times = [_time_once(paths, statement, env, importtime=False)[0] for _ in range(runs)]
    _, log = _time_once(paths, statement, env, importtime=True)
    median = statistics.median(times)
    ratio = f"{median / reference:>6.2f}x" if reference else "   ref "
    verdict = "ok" if median <= TARGET_MS else "OVER"
    print(f"{name:<26}{median:>8.0f}{min(times):>7.0f}{max(times):>7.0f} {ratio}  {verdict:<5}{_heaviest(log)}")
    return median


def _lambda_runtime_environment(template: Template, logical_id: str, code_dir: Path) -> dict[str, str]:
    """Variables the Lambda runtime sets; libraries read them at import (the X-Ray SDK picks its
    local sampler instead of creating botocore X-Ray clients for centralized sampling)."""
    return {
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{template.body['Globals']['Function']['Runtime']}",
        "AWS_LAMBDA_FUNCTION_NAME": template.get_att(logical_id, "Name"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(template.function_setting(logical_id, "MemorySize")),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
    }


def main(runs: int = 5) -> None:
    template = Template.load()
    base_env = {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    with tempfile.TemporaryDirectory() as tmp:
        # What deploys: the layers as `sam build` builds them (precompiled bytecode, only runtime packages).
        layers = build_layers(Path(tmp))
        # The function folders ship as source; compile them like the layers so a PYTHONDONTWRITEBYTECODE
        # environment does not time the compiler instead of the imports.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "functions"], cwd=ROOT, check=True)
        print(f"{'cold import':<26}{'median':>8}{'min':>7}{'max':>7} {'vs ref':>7}  {'<=300':<5}heaviest packages (ms)")
        reference = _row(
            "boto3 + a client (ref)", [layers["DependenciesLayer"] / "python"], REFERENCE, base_env, runs, None
        )
        for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            code_dir = ROOT / props["CodeUri"]
            paths = [code_dir] + [
                layers[ref["Ref"]] / "python" for ref in template.function_setting(logical_id, "Layers")
            ]
            env = {
                **base_env,
                **template.function_environment(logical_id),
                **_lambda_runtime_environment(template, logical_id, code_dir),
            }
            module = props["Handler"].rpartition(".")[0]
            _row(logical_id, paths, f"import {module}", env, runs, reference)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
