"""moto resources built from template.yaml, so tests and the template cannot drift apart."""

from __future__ import annotations

import copy
from typing import Any

import boto3

from tests.support.template import load_template, resources_of_type

REGION = "us-east-1"


def _table_properties(properties: dict[str, Any]) -> dict[str, Any]:
    wanted = (
        "AttributeDefinitions",
        "KeySchema",
        "LocalSecondaryIndexes",
        "GlobalSecondaryIndexes",
    )
    table = {k: copy.deepcopy(v) for k, v in properties.items() if k in wanted}
    table["BillingMode"] = "PAY_PER_REQUEST"
    return table


def create_template_resources() -> dict[str, str]:
    """Create the template's tables and queues in moto; returns logical id -> physical name
    (table name or queue URL)."""
    physical: dict[str, str] = {}
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for name, resource in resources_of_type("AWS::DynamoDB::Table").items():
        dynamodb.create_table(TableName=name, **_table_properties(resource["Properties"]))
        physical[name] = name
    sqs = boto3.client("sqs", region_name=REGION)
    queues = resources_of_type("AWS::SQS::Queue")
    # Dead-letter queues first, so redrive policies can name them.
    for name in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
        physical[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
    events = boto3.client("events", region_name=REGION)
    for name in resources_of_type("AWS::Events::EventBus"):
        events.create_event_bus(Name=name)
        physical[name] = name
    return physical


def environment_for(function_logical_id: str, physical: dict[str, str]) -> dict[str, str]:
    """The function's environment (Globals + its own) with every !Ref resolved."""
    template = load_template()
    variables: dict[str, Any] = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = template["Resources"][function_logical_id]["Properties"].get("Environment", {})
    variables.update(own.get("Variables", {}))
    resolved = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in physical:
            resolved[key] = physical[value["Ref"]]
        elif isinstance(value, str):
            resolved[key] = value
    return resolved
