"""`sam build` builds every function and the layer, as `sam deploy` would ship them.

It runs aws-sam-cli from its own virtual environment (`make setup-sam`) without Docker, so
the Lambda runtime's Python must be on PATH; the layer's requirements come from PyPI. The
build goes to a temporary folder: nothing is written into the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.infra.facts import function_property, functions, handler_file_and_name
from tests.support.template import ROOT, TEMPLATE, resources_of_type

SAM = ROOT / ".venv-sam" / "bin" / "sam"
LAYER = "CommonLayer"
LAYER_PACKAGE = "batchcalls"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")
# ELF e_machine of each Lambda architecture: native wheels must match the layer's.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}


def runtime_version() -> str:
    runtime = str(function_property(sorted(functions())[0], "Runtime"))
    assert runtime.startswith("python"), runtime
    return runtime.removeprefix("python")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if answer.returncode == 0 and answer.stdout.strip():
            return Path(answer.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def runtime_python_bin(version: str) -> Path:
    """The bin folder of a real python<version> (not a pyenv shim, which would run whatever
    `pyenv version` selects)."""
    executable = f"python{version}"
    root = _pyenv_root()
    if root is not None:
        installs = [
            install
            for install in (root / "versions").glob(f"{version}*")
            if re.fullmatch(rf"{re.escape(version)}(\.\d+)?", install.name)
            and (install / "bin" / executable).is_file()
        ]
        if installs:
            return max(installs, key=_version_key) / "bin"
    found = shutil.which(executable)
    if found:
        answer = subprocess.run(
            [found, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if answer.returncode == 0 and answer.stdout.strip():
            return Path(answer.stdout.strip()).parent
    pytest.fail(
        f"sam build needs {executable} (the Lambda runtime) and none was found: "
        f"install it (e.g. `pyenv install {version}`) or put it on PATH"
    )


def requirements(layer_folder: Path) -> dict[str, tuple[str, str]]:
    """Pinned requirements of the layer: distribution name -> (version, extras)."""
    pinned = {}
    for line in (layer_folder / "requirements.txt").read_text().splitlines():
        match = REQUIREMENT.match(line)
        if match:
            pinned[match.group(1)] = (match.group(3), match.group(2) or "")
    return pinned


def dist_info_name(distribution: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', distribution).lower()}-{version}.dist-info"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `sam build` once for the module; returns the build folder and its template."""
    if not SAM.is_file():
        pytest.fail(
            f"aws-sam-cli is not installed at {SAM.relative_to(ROOT)}: run `make setup-sam`"
        )
    work = tmp_path_factory.mktemp("sam")
    build_dir = work / "build"
    runtime_bin = runtime_python_bin(runtime_version())
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    environment["PATH"] = f"{runtime_bin}{os.pathsep}{environment.get('PATH', '')}"
    environment["SAM_CLI_TELEMETRY"] = "0"
    repository_outputs = [ROOT / ".aws-sam", ROOT / "build"]
    existed = {path for path in repository_outputs if path.exists()}

    started = time.monotonic()
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
            "--base-dir",
            str(ROOT),
            # samconfig.toml (read from the template's folder) asks for a cache; keep it here.
            "--cache-dir",
            str(work / "cache"),
            "--parallel",
        ],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    print(f"sam build took {seconds:.1f} s with {runtime_bin}")  # shown by -rP / -s

    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    assert {path for path in repository_outputs if path.exists()} <= existed, (
        "sam build wrote into the repository"
    )
    template, matches = decode(str(build_dir / "template.yaml"))
    assert template is not None, matches
    return {"dir": build_dir, "template": template, "seconds": seconds}


pytestmark = pytest.mark.slow


def layer_source() -> Path:
    properties = resources_of_type("AWS::Serverless::LayerVersion")[LAYER]["Properties"]
    return ROOT / str(properties["ContentUri"])


def layer_python(built: dict[str, Any]) -> Path:
    """The built layer's python/ folder (what Lambda mounts at /opt/python)."""
    content = built["template"]["Resources"][LAYER]["Properties"]["ContentUri"]
    return built["dir"] / content / "python"


@pytest.mark.parametrize("function", sorted(functions()))
def test_every_function_is_built_from_its_own_code_only(
    built: dict[str, Any], function: str
) -> None:
    # Given the function's artifact, as the built template points at it
    code_uri = built["template"]["Resources"][function]["Properties"]["CodeUri"]
    artifact = built["dir"] / code_uri
    source, _ = handler_file_and_name(function)

    # Then it holds the handler module as written, and not the layer's package
    # (a copy there would shadow the layer's in /opt/python)
    built_handler = artifact / source.relative_to(
        ROOT / str(function_property(function, "CodeUri"))
    )
    assert built_handler.read_text() == source.read_text()
    assert not (artifact / LAYER_PACKAGE).exists()


def test_the_layer_holds_the_shared_package_as_written(built: dict[str, Any]) -> None:
    source = layer_source()
    python = layer_python(built)

    source_modules = {path.relative_to(source) for path in (source / LAYER_PACKAGE).rglob("*.py")}
    built_modules = {path.relative_to(python) for path in (python / LAYER_PACKAGE).rglob("*.py")}
    assert source_modules
    assert built_modules == source_modules
    for module in source_modules:
        assert (python / module).read_bytes() == (source / module).read_bytes(), module
    # The data the package reads at import (the state calling rules and area codes)
    source_data = {path.relative_to(source) for path in (source / LAYER_PACKAGE).rglob("*.csv")}
    built_data = {path.relative_to(python) for path in (python / LAYER_PACKAGE).rglob("*.csv")}
    assert source_data
    assert built_data == source_data


# Run by the Lambda runtime's Python: for each module given, what its import would find
# in __pycache__ (importlib's own rules for that Python): "ok" for bytecode it would load
# without compiling, whatever the files' timestamps (an unchecked-hash pyc of this very
# source for this Python), else why not.
BYTECODE_CHECK = """
import importlib.util, json, sys
from pathlib import Path

verdicts = {}
for name in sys.argv[1:]:
    source = Path(name).read_bytes()
    cached = Path(importlib.util.cache_from_source(name))
    if not cached.is_file():
        verdicts[name] = "no bytecode"
        continue
    header = cached.read_bytes()[:16]
    flags = int.from_bytes(header[4:8], "little")
    if header[:4] != importlib.util.MAGIC_NUMBER:
        verdicts[name] = "bytecode of another Python"
    elif flags != 0b01:
        verdicts[name] = f"checked against the source (flags {flags:#b})"
    elif header[8:16] != importlib.util.source_hash(source):
        verdicts[name] = "bytecode of another source"
    else:
        verdicts[name] = "ok"
print(json.dumps(verdicts))
"""


def test_the_layer_ships_the_shared_package_compiled_for_the_runtime(
    built: dict[str, Any],
) -> None:
    # Given the built layer's modules (Lambda's /opt is read-only: whatever is not
    # compiled here is compiled again at every cold start)
    modules = sorted(str(path) for path in (layer_python(built) / LAYER_PACKAGE).rglob("*.py"))
    assert modules
    runtime_python = runtime_python_bin(runtime_version()) / f"python{runtime_version()}"

    # When the runtime's Python looks for each module's bytecode
    answer = subprocess.run(
        [str(runtime_python), "-c", BYTECODE_CHECK, *modules],
        capture_output=True,
        text=True,
        check=True,
    )

    # Then every module has bytecode it loads as it is, without compiling
    verdicts = json.loads(answer.stdout)
    assert {name: verdict for name, verdict in verdicts.items() if verdict != "ok"} == {}


def test_the_layer_holds_every_pinned_requirement(built: dict[str, Any]) -> None:
    source = layer_source()
    python = layer_python(built)

    pinned = requirements(source)
    assert pinned
    for distribution, (version, _) in pinned.items():
        assert (python / dist_info_name(distribution, version)).is_dir(), (
            f"{distribution}=={version} is not in the layer"
        )
    for package in ("pydantic", "pydantic_core", "pynamodb", "aws_lambda_powertools"):
        assert (python / package / "__init__.py").is_file(), f"no {package} in the layer"
    if "[tracer]" in pinned.get("aws-lambda-powertools", ("", ""))[1]:
        assert (python / "aws_xray_sdk").is_dir(), "the tracer extra (aws_xray_sdk) is missing"


def elf_machine(path: Path) -> int:
    """The e_machine field of an ELF file (little-endian, as on both Lambda architectures)."""
    with path.open("rb") as file:
        header = file.read(20)
    assert header[:4] == b"\x7fELF", f"{path.name} is no ELF file"
    return int.from_bytes(header[18:20], "little")


def test_native_modules_in_the_layer_match_the_runtime_and_architecture(
    built: dict[str, Any],
) -> None:
    # Given the layer's architecture and runtime (arm64 and python3.12 on Lambda)
    layer = resources_of_type("AWS::Serverless::LayerVersion")[LAYER]
    machine = ELF_MACHINE[layer["Metadata"]["BuildArchitecture"]]
    tag = "cpython-" + runtime_version().replace(".", "")
    python = layer_python(built)

    # Then every native module is built for that machine (read from its ELF header, so
    # abi3 modules count too) and every version-tagged one for that Python
    native = sorted(python.rglob("*.so"))
    assert any(path.name.startswith("_pydantic_core") for path in native)
    wrong_machine = [str(p.relative_to(python)) for p in native if elf_machine(p) != machine]
    wrong_python = [p.name for p in native if ".cpython-" in p.name and tag not in p.name]
    assert not wrong_machine, f"not built for {layer['Metadata']['BuildArchitecture']}"
    assert not wrong_python, f"not built for {tag}: {wrong_python}"
