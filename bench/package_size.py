"""Build the layers the way `sam build` does and print each function's unpacked size.

Lambda refuses a function whose code plus layers unpack to more than 250 MB. The layers are
built with their own Makefiles (BuildMethod: makefile, in source), exactly the targets SAM
calls, into a scratch ARTIFACTS_DIR. `tests/test_packaging.py` checks the limit with the same
functions; run this file to see the table:  .venv/bin/python bench/package_size.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.template import Template  # noqa: E402

LAMBDA_UNZIPPED_LIMIT = 250 * 10**6  # bytes, code + all layers


def build_layers(out_dir: Path) -> dict[str, Path]:
    """Run each layer's `make build-<LogicalId>` in its ContentUri; returns logical id -> artifacts dir."""
    built = {}
    for logical_id, resource in Template.load().of_type("AWS::Serverless::LayerVersion").items():
        artifacts = out_dir / logical_id
        artifacts.mkdir(parents=True)
        subprocess.run(
            ["make", "-s", f"build-{logical_id}", f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
            cwd=ROOT / resource["Properties"]["ContentUri"],
            check=True,
        )
        built[logical_id] = artifacts
    return built


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def function_sizes(layers: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Per function: bytes of its code, of its layers, and in total."""
    template = Template.load()
    layer_bytes = {name: tree_size(path) for name, path in layers.items()}
    sizes = {}
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        code_dir = ROOT / resource["Properties"]["CodeUri"]
        code = sum(f.stat().st_size for f in code_dir.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        layer_refs = template.function_setting(logical_id, "Layers") or []
        used = sum(layer_bytes[ref["Ref"]] for ref in layer_refs)
        sizes[logical_id] = {"code": code, "layers": used, "total": code + used}
    return sizes


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        layers = build_layers(Path(tmp))
        print(f"{'layer':<24}{'unzipped MB':>12}")
        for name, path in layers.items():
            print(f"{name:<24}{tree_size(path) / 1e6:>12.1f}")
        print()
        print(f"{'function':<24}{'code MB':>10}{'layers MB':>11}{'total MB':>10}{'limit MB':>10}")
        for name, size in function_sizes(layers).items():
            print(
                f"{name:<24}{size['code'] / 1e6:>10.2f}{size['layers'] / 1e6:>11.1f}{size['total'] / 1e6:>10.1f}"
                f"{LAMBDA_UNZIPPED_LIMIT / 1e6:>10.0f}"
            )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
