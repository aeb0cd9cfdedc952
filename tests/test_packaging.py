"""What deploys: layers built as `sam build` builds them fit Lambda and run every handler."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.package_size import LAMBDA_UNZIPPED_LIMIT, build_layers, function_sizes
from local.template import ROOT, Template

TEMPLATE = Template.load()
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")
# Amazon Linux 2, under the python3.11 runtime, has glibc 2.26.
LAMBDA_GLIBC = (2, 26)


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    return build_layers(tmp_path_factory.mktemp("sam-build"))


def test_every_function_with_its_layers_fits_lambdas_unzipped_limit(layers):
    for name, size in function_sizes(layers).items():
        assert size["total"] < LAMBDA_UNZIPPED_LIMIT, f"{name}: {size['total'] / 1e6:.1f} MB"


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _glibc_needed(platform_tag: str) -> tuple[int, int] | None:
    legacy = re.match(r"(manylinux1|manylinux2010|manylinux2014)_x86_64$", platform_tag)
    if legacy:
        return _LEGACY_MANYLINUX[legacy.group(1)]
    modern = re.match(r"manylinux_(\d+)_(\d+)_x86_64$", platform_tag)
    return (int(modern.group(1)), int(modern.group(2))) if modern else None


def test_every_binary_wheel_in_the_layer_loads_on_the_lambda_runtime(layers):
    """A wheel loads when any one of its tags fits; pip was asked for manylinux2014 and must have honoured it."""
    binary = 0
    for wheel_file in (layers["DependenciesLayer"] / "python").glob("*.dist-info/WHEEL"):
        platforms = {t.split("-")[-1] for t in re.findall(r"^Tag: (.+)$", wheel_file.read_text(), flags=re.M)}
        if platforms == {"any"}:
            continue
        binary += 1
        needed = [_glibc_needed(tag) for tag in platforms]
        assert None not in needed, f"{wheel_file.parent.name}: unknown platform tag in {platforms}"
        assert min(needed) <= LAMBDA_GLIBC, f"{wheel_file.parent.name} needs glibc {min(needed)}"
    assert binary >= 3, "expected binary wheels (numpy, pyarrow, pydantic-core)"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_handler_imports_from_its_code_and_layers_alone(layers, logical_id):
    """No site-packages: only the function's CodeUri and its built layers, as on Lambda."""
    props = FUNCTIONS[logical_id]["Properties"]
    module, _, attribute = props["Handler"].rpartition(".")
    paths = [str(ROOT / props["CodeUri"])] + [
        str(layers[ref["Ref"]] / "python") for ref in TEMPLATE.function_setting(logical_id, "Layers")
    ]
    code = (
        f"import sys, importlib; sys.path[:0] = {paths!r}; "
        f"assert callable(getattr(importlib.import_module({module!r}), {attribute!r}))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "us-east-1",
        **TEMPLATE.function_environment(logical_id),
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=Path("/")
    )
    assert result.returncode == 0, result.stderr
