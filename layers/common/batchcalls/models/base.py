"""Request models accept snake_case and camelCase, refuse unknown fields and doubles."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every request body.

    Each field is accepted under its snake_case name, its camelCase name and any extra
    spellings listed in `extra_spellings` (e.g. `scheduled_start_time`). Giving one field
    twice, under two spellings, is refused so a client never wonders which one won.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    extra_spellings: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def spellings(cls) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for name in cls.model_fields:
            for spelling in (name, to_camel(name), *cls.extra_spellings.get(name, ())):
                mapping[spelling] = name
                mapping[to_camel(spelling)] = name
        return mapping

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
