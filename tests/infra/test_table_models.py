"""The pynamodb models and the idempotency store describe exactly the template's tables."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from batchcalls.adapters.tables import ALL_MODELS
from pynamodb.attributes import NumberAttribute, TTLAttribute
from pynamodb.models import Model

from tests.infra.facts import (
    function_environment,
    functions,
    global_function_properties,
    handler_file_and_name,
    ref_target,
)
from tests.support.template import load_template, resources_of_type

IDEMPOTENCY_VARIABLE = "IDEMPOTENCY_TABLE"
TTL_ATTRIBUTE = "ttl"


def table_of_setting(field: str) -> str:
    """The table's logical id behind a settings field: FIELD in Globals is `!Ref <Table>`."""
    variables = global_function_properties().get("Environment", {}).get("Variables", {})
    variable = field.upper()
    assert variable in variables, f"Globals provide no {variable} for settings field {field}"
    logical_id = ref_target(variables[variable])
    assert logical_id, f"{variable} in Globals is not a !Ref: {variables[variable]!r}"
    assert logical_id in resources_of_type("AWS::DynamoDB::Table"), (
        f"{variable} is !Ref {logical_id}, which is no DynamoDB table"
    )
    return logical_id


def _projection(projection: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    return projection["ProjectionType"], tuple(sorted(projection.get("NonKeyAttributes", [])))


def _keys(key_schema: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in key_schema}


def template_shape(properties: dict[str, Any]) -> dict[str, Any]:
    """Keys, key attribute types, indexes and TTL of a template table, comparable."""
    ttl = properties.get("TimeToLiveSpecification") or {}
    return {
        "keys": _keys(properties["KeySchema"]),
        "attribute_types": {
            a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]
        },
        "local_indexes": {
            i["IndexName"]: (_keys(i["KeySchema"]), _projection(i["Projection"]))
            for i in properties.get("LocalSecondaryIndexes", [])
        },
        "global_indexes": {
            i["IndexName"]: (_keys(i["KeySchema"]), _projection(i["Projection"]))
            for i in properties.get("GlobalSecondaryIndexes", [])
        },
        "ttl": ttl.get("AttributeName") if ttl.get("Enabled") else None,
    }


def model_shape(model: type[Model]) -> dict[str, Any]:
    """The same shape from a pynamodb model (what create_table would send)."""
    schema: dict[str, Any] = dict(model._get_schema())
    attribute_types = {
        a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]
    }
    indexes: dict[str, dict[str, Any]] = {"local_indexes": {}, "global_indexes": {}}
    for kind, key in (
        ("local_indexes", "local_secondary_indexes"),
        ("global_indexes", "global_secondary_indexes"),
    ):
        for index in schema[key]:
            for attribute in index.get("attribute_definitions", []):
                attribute_types[attribute["AttributeName"]] = attribute["AttributeType"]
            indexes[kind][index["index_name"]] = (
                _keys(index["key_schema"]),
                _projection(index["projection"]),
            )
    # The TTL attribute: a TTLAttribute, or by this code's convention a number named `ttl`
    # (epoch seconds, set on items that are done).
    ttl = [
        a.attr_name
        for a in model.get_attributes().values()
        if isinstance(a, TTLAttribute)
        or (isinstance(a, NumberAttribute) and a.attr_name == TTL_ATTRIBUTE)
    ]
    return {
        "keys": _keys(schema["key_schema"]),
        "attribute_types": attribute_types,
        **indexes,
        "ttl": ttl[0] if ttl else None,
    }


@pytest.mark.parametrize("field", sorted(ALL_MODELS))
def test_each_model_has_the_keys_indexes_and_ttl_of_its_template_table(field: str) -> None:
    # Given the table a model is bound to through its settings field
    table = resources_of_type("AWS::DynamoDB::Table")[table_of_setting(field)]

    # Then both describe the same keys, key types, indexes (with projections) and TTL
    assert model_shape(ALL_MODELS[field]) == template_shape(table["Properties"])


def test_no_two_models_share_a_table() -> None:
    tables = [table_of_setting(field) for field in ALL_MODELS]

    assert len(tables) == len(set(tables))


def idempotency_tables() -> set[str]:
    """Tables handed to a function as IDEMPOTENCY_TABLE (Powertools' persistence layer)."""
    tables = set()
    for name in functions():
        value = function_environment(name).get(IDEMPOTENCY_VARIABLE)
        if value is not None:
            logical_id = ref_target(value)
            assert logical_id, f"{name}: {IDEMPOTENCY_VARIABLE} is not a !Ref"
            tables.add(logical_id)
    return tables


def test_every_template_table_is_a_models_table_or_the_idempotency_store() -> None:
    # Given the tables the code reaches: the models' and Powertools idempotency's
    used = {table_of_setting(field) for field in ALL_MODELS} | idempotency_tables()

    # Then the template has no other table (an unused one) and lacks none
    assert set(resources_of_type("AWS::DynamoDB::Table")) == used


def persistence_layer_arguments() -> list[dict[str, Any]]:
    """The keyword arguments (but the table name) of each DynamoDBPersistenceLayer(...)
    in the functions' handler modules."""
    found = []
    for name in functions():
        path, _ = handler_file_and_name(name)
        if not path.is_file():
            continue  # the hygiene tests report a missing handler module
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None))
                == "DynamoDBPersistenceLayer"
            ):
                found.append(
                    {
                        k.arg: ast.literal_eval(k.value)
                        for k in node.keywords
                        if k.arg and k.arg != "table_name"
                    }
                )
    return found


def test_the_idempotency_table_has_the_key_and_ttl_powertools_writes() -> None:
    # Given how the code builds its persistence layer (defaults unless it says otherwise)
    uses = persistence_layer_arguments()
    assert uses, "no function builds a DynamoDBPersistenceLayer, yet IDEMPOTENCY_TABLE is set"
    tables = idempotency_tables()
    assert len(tables) == 1
    table = resources_of_type("AWS::DynamoDB::Table")[tables.pop()]["Properties"]

    for arguments in uses:
        layer = DynamoDBPersistenceLayer(table_name="Idempotency", **arguments)
        expected_keys = {"HASH": layer.key_attr}
        if layer.sort_key_attr:
            expected_keys["RANGE"] = layer.sort_key_attr

        # Then the table's key is the layer's key (strings) and TTL expires its records
        shape = template_shape(table)
        assert shape["keys"] == expected_keys
        assert shape["attribute_types"] == dict.fromkeys(expected_keys.values(), "S")
        assert shape["ttl"] == layer.expiry_attr


def test_no_table_is_conditional() -> None:
    # The code needs every table in every deployment (and the tests above read them all).
    assert all(
        "Condition" not in resource
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::DynamoDB::Table"
    )
