"""Cold start: each handler's import time in a fresh interpreter, beside boto3's alone, and
its deployment package's size.

    .venv/bin/python benchmarks/cold_start.py [--runs 7]

Each figure is the median of `--runs` fresh interpreters importing the module (what a
Lambda cold start pays before the handler runs), timed inside the interpreter as the CPU
time the import took (on an idle machine the wall time is the same; on a busy one the
wall time also counts other processes' turns). The ratio
is to `import boto3` measured in the same run. Two figures per handler: with tracing off
(outside Lambda, or POWERTOOLS_TRACE_DISABLED), and as deployed (`Tracing: Active`:
Powertools' tracer loads the X-Ray SDK and patches botocore), the latter simulated by
setting LAMBDA_TASK_ROOT. The package is what `sam build` ships: the function's folder
and the shared layer (layers/common/batchcalls and the distributions pip installs for
layers/common/requirements.txt, their own dependencies included), unzipped bytes.

The project's own code is imported from a copy as `sam build` ships it: the function's
folder as written (sam's python3.12 builder does not compile it; it is one small module)
and the layer's batchcalls package with its bytecode, compiled as layers/common/Makefile
compiles it (`compileall`, unchecked hashes). pip compiles what it installs, so the
dependencies' bytecode is in the layer too. A third figure imports a copy without the
package's bytecode, as the layer was shipped before its makefile build: Lambda's code
folders are read-only, so Python then compiles the package again at every cold start
(here: PYTHONDONTWRITEBYTECODE, and no `__pycache__` in the copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TIMED_IMPORT = (
    "import time; wall = time.perf_counter(); cpu = time.process_time(); import {module}; "
    "print(time.process_time() - cpu, time.perf_counter() - wall, {module}.__file__)"
)


def shipped_copy(into: Path, compiled: bool) -> Path:
    """The project's code as a deployment ships it: `functions/` as written and the
    layer's `batchcalls` with its bytecode (without, unless `compiled`)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "functions", into / "functions", ignore=ignore)
    shutil.copytree(
        ROOT / "layers" / "common" / "batchcalls", into / "layer" / "batchcalls", ignore=ignore
    )
    if compiled:  # as layers/common/Makefile does
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "--invalidation-mode",
                "unchecked-hash",
                str(into / "layer" / "batchcalls"),
            ],
            check=True,
        )
    return into


def import_seconds(module: str, runs: int, code: Path | None = None, traced: bool = False) -> float:
    """Median CPU seconds of importing `module` in `runs` fresh interpreters, the project's
    code taken from `code` (a shipped_copy)."""
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if code is not None:
        environment["PYTHONPATH"] = os.pathsep.join([str(code), str(code / "layer")])
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    environment.pop("LAMBDA_TASK_ROOT", None)
    if traced:
        environment["LAMBDA_TASK_ROOT"] = str(code or ROOT)
    times = [
        subprocess.run(
            [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
            cwd=code or ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for _ in range(runs)
    ]
    # CPU time: what the import costs, however busy the machine (on a shared machine
    # wall time also counts the time other processes ran); on an idle one they agree.
    if code is not None:  # the copy's module, not the repository's (namespace packages)
        assert all(Path(file).is_relative_to(code) for _, _, file in times), times[0]
    return statistics.median(float(cpu) for cpu, _, _ in times)


def code_bytes(folder: Path) -> int:
    return sum(
        f.stat().st_size for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts
    )


def _requirements() -> list[Requirement]:
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def installed_bytes() -> dict[str, int]:
    """Unzipped bytes of each distribution pip installs for the layer's requirements
    (dependencies and requested extras followed), as installed here."""
    sizes: dict[str, int] = {}
    todo = [(r, frozenset(r.extras)) for r in _requirements()]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in sizes:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        sizes[name] = sum(int(f.size or 0) for f in dist.files or [])
        for text in dist.requires or []:
            needed = Requirement(text)
            environment = {"extra": ""}
            wanted = needed.marker is None or any(
                needed.marker.evaluate({**environment, "extra": e}) for e in (*extras, "")
            )
            if wanted:
                todo.append((needed, frozenset(needed.extras)))
    return sizes


def measure(runs: int = 7) -> dict[str, Any]:
    """boto3's import time, and each handler's (seconds; tracing off, as deployed, and as
    deployed without the package's bytecode), ratio to boto3 and package size."""
    boto3 = import_seconds("boto3", runs)
    layer_code = code_bytes(ROOT / "layers" / "common" / "batchcalls")
    installed = installed_bytes()
    layer = layer_code + sum(installed.values())
    handlers = {}
    with tempfile.TemporaryDirectory() as shipped, tempfile.TemporaryDirectory() as source:
        as_built = shipped_copy(Path(shipped), compiled=True)
        without_bytecode = shipped_copy(Path(source), compiled=False)
        for folder in sorted(p for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()):
            module = f"functions.{folder.name}.app"
            seconds = import_seconds(module, runs, as_built)
            traced = import_seconds(module, runs, as_built, traced=True)
            from_source = import_seconds(module, runs, without_bytecode, traced=True)
            handlers[folder.name] = {
                "import_seconds": seconds,
                "ratio_to_boto3": seconds / boto3,
                "traced_import_seconds": traced,
                "traced_ratio_to_boto3": traced / boto3,
                "source_traced_import_seconds": from_source,
                "source_traced_ratio_to_boto3": from_source / boto3,
                "code_bytes": code_bytes(folder),
                "package_bytes": code_bytes(folder) + layer,
            }
    return {
        "runs": runs,
        "boto3_seconds": boto3,
        "handlers": handlers,
        "layer_code_bytes": layer_code,
        "layer_bytes": layer,
        "largest_distributions": dict(sorted(installed.items(), key=lambda kv: -kv[1])[:6]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    print(f"import boto3 alone: {figures['boto3_seconds'] * 1000:.0f} ms (median of {args.runs})")
    print(
        f"{'function':18s} {'import':>8s} {'vs boto3':>9s} {'deployed':>9s} {'vs boto3':>9s} "
        f"{'no pyc':>9s} {'own code':>9s} {'package':>9s}"
    )
    for name, one in figures["handlers"].items():
        print(
            f"{name:18s} {one['import_seconds'] * 1000:6.0f} ms {one['ratio_to_boto3']:8.2f}x "
            f"{one['traced_import_seconds'] * 1000:6.0f} ms {one['traced_ratio_to_boto3']:8.2f}x "
            f"{one['source_traced_import_seconds'] * 1000:6.0f} ms "
            f"{one['code_bytes'] / 1024:7.1f} KB {one['package_bytes'] / 1e6:6.1f} MB"
        )
    print(
        f"shared layer: {figures['layer_bytes'] / 1e6:.1f} MB unzipped (its own code "
        f"{figures['layer_code_bytes'] / 1024:.0f} KB; largest: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in figures["largest_distributions"].items())
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
