"""The SAM template as the runtime reads it: functions, code folders, layers, HTTP routes."""

from __future__ import annotations

import copy
import json
import logging
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

log = logging.getLogger("local_stack")
# The translator warns, when it is garbage-collected, about metrics nobody publishes.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"


@lru_cache(maxsize=16)
def _parse(path: Path, mtime_ns: int) -> dict[str, Any]:
    return yaml_parse(path.read_text())


@dataclass(frozen=True)
class HttpRoute:
    """One route of the template's HTTP API (a function's `HttpApi` or `Api` event)."""

    function: str  # logical id
    method: str  # upper case, or ANY
    path: str | None  # None: the `$default` route
    payload_format: str = "2.0"

    @property
    def route_key(self) -> str:
        return "$default" if self.path is None else f"{self.method} {self.path}"


@dataclass(frozen=True)
class SamFunction:
    logical_id: str
    code_dir: Path | None
    routes: tuple[HttpRoute, ...] = field(default=())
    async_retries: int = 2  # EventInvokeConfig.MaximumRetryAttempts


class SamTemplate:
    def __init__(self, path: Path = DEFAULT_TEMPLATE) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.body: dict[str, Any] = copy.deepcopy(_parse(self.path, self.path.stat().st_mtime_ns))

    @property
    def resources(self) -> dict[str, Any]:
        return self.body.get("Resources", {})

    def parameter_names(self) -> set[str]:
        return set(self.body.get("Parameters", {}))

    def parameter_default(self, name: str) -> Any:
        return self.body.get("Parameters", {}).get(name, {}).get("Default")

    def _globals(self, kind: str) -> dict[str, Any]:
        return self.body.get("Globals", {}).get(kind, {})

    def _local_dir(self, uri: Any) -> Path | None:
        if not isinstance(uri, str) or uri.startswith("s3://"):
            return None
        folder = (self.root / uri).resolve()
        return folder if folder.is_dir() else None

    def functions(self) -> dict[str, SamFunction]:
        found = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            properties = resource.get("Properties", {})
            code_uri = properties.get("CodeUri", self._globals("Function").get("CodeUri"))
            routes = []
            for event in properties.get("Events", {}).values():
                kind = event.get("Type")
                if kind not in ("HttpApi", "Api"):
                    continue
                event_properties = event.get("Properties", {})
                path = event_properties.get("Path")
                method = str(event_properties.get("Method", "ANY")).upper()
                default_format = "2.0" if kind == "HttpApi" else "1.0"
                payload = str(event_properties.get("PayloadFormatVersion", default_format))
                routes.append(HttpRoute(logical_id, method, path, payload))
            invoke_config = properties.get(
                "EventInvokeConfig", self._globals("Function").get("EventInvokeConfig", {})
            )
            retries = invoke_config.get("MaximumRetryAttempts", 2)
            found[logical_id] = SamFunction(
                logical_id,
                self._local_dir(code_uri),
                tuple(routes),
                retries if isinstance(retries, int) else 2,
            )
        return found

    def layer_dirs(self) -> list[Path]:
        """What Lambda mounts at /opt/python for each local layer of the template."""
        folders = []
        for resource in self.resources.values():
            if resource.get("Type") != "AWS::Serverless::LayerVersion":
                continue
            folder = self._local_dir(resource.get("Properties", {}).get("ContentUri"))
            if folder is None:
                continue
            built_by_sam = "BuildMethod" in resource.get("Metadata", {})
            if not built_by_sam and (folder / "python").is_dir():
                folder = folder / "python"
            folders.append(folder)
        return folders

    def add_layers_to_path(self) -> None:
        for folder in self.layer_dirs():
            if str(folder) not in sys.path:
                sys.path.append(str(folder))

    def translate(
        self, code_uri: str, parameters: dict[str, str], iam_client: Any
    ) -> dict[str, Any]:
        """Plain CloudFormation from the SAM template; local code becomes `code_uri` (S3)."""
        body = copy.deepcopy(self.body)
        function_globals = body.get("Globals", {}).get("Function", {})
        if "CodeUri" in function_globals:
            function_globals["CodeUri"] = code_uri
        for resource in body.get("Resources", {}).values():
            properties = resource.setdefault("Properties", {})
            kind = resource.get("Type")
            if kind == "AWS::Serverless::Function" and "InlineCode" not in properties:
                properties["CodeUri"] = code_uri
            elif kind == "AWS::Serverless::LayerVersion":
                properties["ContentUri"] = code_uri
            elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi") and isinstance(
                properties.get("DefinitionUri"), str
            ):
                properties["DefinitionUri"] = code_uri
        translated = transform(body, dict(parameters), ManagedPolicyLoader(iam_client))
        return json.loads(json.dumps(translated))
