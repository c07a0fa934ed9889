"""Facts read from template.yaml and the code for the infra tests: what each function gets."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

from batchcalls import settings as settings_module
from pydantic import BaseModel

from tests.support.template import ROOT, load_template, resources_of_type

# Environment variables (and settings fields, in lower case) that name a resource, by the
# suffix that says which kind of resource.
RESOURCE_SUFFIXES = {
    "_TABLE": "AWS::DynamoDB::Table",
    "_QUEUE_URL": "AWS::SQS::Queue",
    "_BUS_NAME": "AWS::Events::EventBus",
    "_BUCKET_NAME": "AWS::S3::Bucket",
}
LAMBDA_DEFAULT_TIMEOUT = 3


def resource_kind(variable: str) -> str | None:
    """The resource type an environment variable (or settings field) names, if it names one."""
    for suffix, resource_type in RESOURCE_SUFFIXES.items():
        if variable.upper().endswith(suffix):
            return resource_type
    return None


def ref_target(value: Any) -> str | None:
    """The logical id of a `!Ref X` (None for anything else)."""
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def getatt_target(value: Any, attribute: str) -> str | None:
    """The logical id of a `!GetAtt X.<attribute>` (None for anything else)."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if len(target) == 2 and target[1] == attribute:
            return str(target[0])
    return None


def resource_type(logical_id: str) -> str | None:
    resource = load_template()["Resources"].get(logical_id)
    return None if resource is None else resource["Type"]


def global_function_properties() -> dict[str, Any]:
    return load_template().get("Globals", {}).get("Function", {})


def functions() -> dict[str, dict[str, Any]]:
    return resources_of_type("AWS::Serverless::Function")


def function_property(logical_id: str, name: str, default: Any = None) -> Any:
    """A function's property, falling back to Globals as SAM does."""
    own = functions()[logical_id]["Properties"]
    return own.get(name, global_function_properties().get(name, default))


def function_environment(logical_id: str) -> dict[str, Any]:
    """Globals' variables merged with the function's own (the function's win), unresolved."""
    variables = dict(global_function_properties().get("Environment", {}).get("Variables", {}))
    own = functions()[logical_id]["Properties"].get("Environment", {})
    variables.update(own.get("Variables", {}))
    return variables


def all_environments() -> dict[str, dict[str, Any]]:
    """Every environment block of the template: Globals and each function's own."""
    blocks = {
        "Globals": dict(global_function_properties().get("Environment", {}).get("Variables", {}))
    }
    for name, function in functions().items():
        blocks[name] = dict(function["Properties"].get("Environment", {}).get("Variables", {}))
    return blocks


def function_timeout(logical_id: str) -> int:
    return int(function_property(logical_id, "Timeout", LAMBDA_DEFAULT_TIMEOUT))


def code_dir(logical_id: str) -> Path:
    return ROOT / str(function_property(logical_id, "CodeUri"))


def handler_file_and_name(logical_id: str) -> tuple[Path, str]:
    module, _, name = str(function_property(logical_id, "Handler")).rpartition(".")
    return code_dir(logical_id) / (module.replace(".", "/") + ".py"), name


def sqs_event_sources() -> list[tuple[str, str, dict[str, Any]]]:
    """(function, queue logical id, event properties) for every SQS event of a function."""
    sources = []
    for name, function in functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = getatt_target(event["Properties"]["Queue"], "Arn")
                assert queue, f"{name}: an SQS event's Queue must be !GetAtt <Queue>.Arn"
                sources.append((name, queue, event["Properties"]))
    return sources


@cache
def settings_models() -> dict[str, type[BaseModel]]:
    """Every settings model (a subclass of the module's env-settings base) by class name."""
    base = settings_module._EnvSettings
    return {
        name: value
        for name, value in vars(settings_module).items()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    }


LAYER_ROOT = ROOT / "layers" / "common"


def _layer_module_file(name: str) -> Path | None:
    """The file of a module of the shared layer's package (None outside the layer)."""
    path = LAYER_ROOT / name.replace(".", "/")
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _loaded_settings(tree: ast.AST) -> set[str]:
    """Models passed to load_settings(...) or read with <Model>.from_env(...)."""
    loaded = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = getattr(function, "id", getattr(function, "attr", None))
        if name == "load_settings" and node.args and isinstance(node.args[0], ast.Name):
            loaded.add(node.args[0].id)
        elif (
            name == "from_env"
            and isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
        ):
            loaded.add(function.value.id)
    return loaded


def settings_used_by(logical_id: str) -> set[str]:
    """Names of the settings models a function loads: in its handler module or in any
    module of the layer that the handler imports, directly or not (e.g. a wiring module)."""
    path, _ = handler_file_and_name(logical_id)
    if not path.is_file():
        return set()  # the handler test reports the missing module
    seen: set[Path] = set()
    pending = [path]
    loaded: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        tree = ast.parse(module.read_text())
        loaded |= _loaded_settings(tree)
        for name in _imported_modules(tree):
            found = _layer_module_file(name)
            if found is not None:
                pending.append(found)
    return loaded & set(settings_models())


def resource_fields(model: type[BaseModel]) -> list[str]:
    """The settings fields of a model that name a table, queue, bus or bucket."""
    return [field for field in model.model_fields if resource_kind(field)]
