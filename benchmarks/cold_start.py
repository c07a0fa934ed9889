"""Cold start: each handler's import time in a fresh interpreter, beside boto3's alone, and
the size of its own code.

    .venv/bin/python benchmarks/cold_start.py [--runs 5]

Each figure is the median of `--runs` fresh interpreters importing the module (what a
Lambda cold start pays before the handler runs), timed inside the interpreter. The ratio
is to `import boto3` measured in the same run. The shared layer (layers/common and its
requirements) is the same for every function and is not counted in the code size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIMED_IMPORT = (
    "import time; began = time.perf_counter(); import {module}; print(time.perf_counter() - began)"
)


def import_seconds(module: str, runs: int) -> float:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
    }
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def code_bytes(folder: Path) -> int:
    return sum(
        f.stat().st_size for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts
    )


def measure(runs: int = 5) -> dict[str, Any]:
    """boto3's import time, and each handler's (seconds), ratio to boto3 and code size."""
    boto3 = import_seconds("boto3", runs)
    handlers = {}
    for folder in sorted(p for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()):
        seconds = import_seconds(f"functions.{folder.name}.app", runs)
        handlers[folder.name] = {
            "import_seconds": seconds,
            "ratio_to_boto3": seconds / boto3,
            "code_bytes": code_bytes(folder),
        }
    return {
        "runs": runs,
        "boto3_seconds": boto3,
        "handlers": handlers,
        "layer_code_bytes": code_bytes(ROOT / "layers" / "common" / "batchcalls"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    print(f"import boto3 alone: {figures['boto3_seconds'] * 1000:.0f} ms (median of {args.runs})")
    print(f"{'function':18s} {'import':>8s} {'vs boto3':>9s} {'own code':>9s}")
    for name, one in figures["handlers"].items():
        print(
            f"{name:18s} {one['import_seconds'] * 1000:6.0f} ms {one['ratio_to_boto3']:8.2f}x "
            f"{one['code_bytes'] / 1024:7.1f} KB"
        )
    print(
        f"shared layer code (layers/common/batchcalls): {figures['layer_code_bytes'] / 1024:.0f} KB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
