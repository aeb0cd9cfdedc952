"""Remove from an installed layer what the service never loads.

pyarrow's wheel unpacks to ~170 MB; the service uses its core, compute, dataset (with acero),
Parquet and S3 filesystem only. Like the AWS SDK for pandas layer, drop Flight, Gandiva,
the Substrait bindings, C++ headers, Cython sources and every package's tests; and the SQL
storage packages Optuna installs (SQLAlchemy, Alembic, Mako), which journal storage never loads;
and TA-Lib's generated C and Cython sources.
`tests/test_packaging.py` imports every handler from the built layers alone, so a library
stripped here that something still links fails the suite.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Globs relative to the layer's python/ folder.
UNUSED = [
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/tests",
    "pyarrow/*.pyx",
    "pyarrow/*.pxd",
    "pyarrow/*.pxi",
    "pyarrow/**/*.pxd",
    "pyarrow/_flight*.so",
    "pyarrow/flight.py",
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/gandiva*.so",
    "pyarrow/libgandiva.so*",
    # libarrow_substrait.so stays: libarrow_python (so pyarrow.lib itself) links it.
    "pyarrow/_substrait*.so",
    "pyarrow/substrait.py",
    "numpy/**/tests",
    "numpy/_core/include",
    "numpy/f2py",
    "numpy/_pyinstaller",
    "numpy/**/*.pyi",
    # Optuna's RDB storage (and its migrations) only: the service keeps studies as journal logs.
    "sqlalchemy",
    "SQLAlchemy-*.dist-info",
    "sqlalchemy-*.dist-info",
    "alembic",
    "alembic-*.dist-info",
    "mako",
    "Mako-*.dist-info",
    "mako-*.dist-info",
    "bin",
    # TA-Lib's wrapper ships its generated C (20 MB) and Cython sources beside the built module.
    "talib/*.c",
    "talib/*.pxi",
    "talib/*.pyx",
    "talib/*.pxd",
    "talib/*.pyi",
]


def strip(root: Path) -> int:
    removed = 0
    for pattern in UNUSED:
        for path in sorted(root.glob(pattern), reverse=True):
            if not path.exists():
                continue
            removed += (
                sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
            )
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return removed


if __name__ == "__main__":
    freed = strip(Path(sys.argv[1]))
    print(f"stripped {freed / 2**20:.1f} MiB from {sys.argv[1]}")
