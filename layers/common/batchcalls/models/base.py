"""Request models accept snake_case and camelCase, refuse unknown fields and doubles."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every request body.

    Each field is accepted under its snake_case name, its camelCase name and any extra
    spellings listed in `extra_spellings` (e.g. `scheduled_start_time`). Giving one field
    twice, under two spellings, is refused so a client never wonders which one won.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # Validators are built on first use: a handler pays only for the models it uses.
        defer_build=True,
        json_schema_extra=lambda schema, model: _document(schema, model),
    )
    extra_spellings: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Shown in the OpenAPI document (JSON Schema `examples`).
    schema_examples: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    def spellings(cls) -> dict[str, str]:
        """Every accepted spelling -> its field (worked out once per class: every row of
        a contact file is validated with it)."""
        return _spellings(cls)

    @model_validator(mode="before")
    @classmethod
    def _one_spelling_per_field(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        spellings = cls.spellings()
        normalised: dict[str, Any] = {}
        seen: dict[str, str] = {}
        for key, value in data.items():
            name = spellings.get(key, key) if isinstance(key, str) else key
            if name in seen:
                raise ValueError(f"'{seen[name]}' and '{key}' are the same field; give it once")
            seen[name] = key
            normalised[name] = value
        return normalised


@cache
def _spellings(model: type[ApiModel]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name in model.model_fields:
        for spelling in (name, to_camel(name), *model.extra_spellings.get(name, ())):
            mapping[spelling] = name
            mapping[to_camel(spelling)] = name
    return mapping


def _document(schema: dict[str, Any], model: Any) -> None:
    """The JSON Schema says what the model accepts: every other spelling of a field is a
    property of its own (same schema), and the model's examples are attached."""
    properties: dict[str, Any] = schema.get("properties", {})
    for spelling, name in model.spellings().items():
        if spelling != name and name in properties and spelling not in properties:
            properties[spelling] = {
                **properties[name],
                "description": f"Another spelling of `{name}`; give only one of them.",
            }
    if model.schema_examples:
        schema["examples"] = model.schema_examples
