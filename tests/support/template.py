"""template.yaml read with cfn-lint's loader (keeps !Ref/!GetAtt), for tests and tools."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@cache
def load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    if template is None:
        raise RuntimeError(f"template.yaml does not parse: {matches}")
    return template


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def global_environment() -> dict[str, Any]:
    return load_template()["Globals"]["Function"]["Environment"]["Variables"]
