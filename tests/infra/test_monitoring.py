"""What the template watches and keeps: alarms on every function, queue, table and the
HTTP API, all notifying the alarm topic; a log group with retention for every function;
throttling on the HTTP API; recovery and expiry on the tables."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.facts import (
    function_property,
    function_timeout,
    functions,
    getatt_target,
    ref_target,
    sqs_event_sources,
)
from tests.support.template import load_template, resources_of_type

FUNCTIONS = sorted(functions())
TABLES = sorted(resources_of_type("AWS::DynamoDB::Table"))
ALARMS = resources_of_type("AWS::CloudWatch::Alarm")
TOPIC = "AlarmTopic"
# IAM actions that are no API operation of their own: the operation SystemErrors names.
OPERATION_OF_ACTION = {"dynamodb:ConditionCheckItem": "TransactWriteItems"}
# Tables whose items the code marks done with `ttl` (epoch seconds).
TTL_TABLES = {"SlotsTable": "ttl", "CoordinationTable": "ttl", "OutboxTable": "ttl"}


def dimension_targets(metric: dict[str, Any], name: str) -> set[str]:
    """Logical ids a metric's dimension `name` refers to (!Ref X or !GetAtt X.<attr>)."""
    found = set()
    for dimension in metric.get("Dimensions", []):
        if dimension["Name"] != name:
            continue
        value = dimension["Value"]
        target = ref_target(value)
        if target is None and isinstance(value, dict) and "Fn::GetAtt" in value:
            attribute = value["Fn::GetAtt"]
            target = attribute.split(".")[0] if isinstance(attribute, str) else attribute[0]
        if target:
            found.add(str(target))
    return found


def metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric an alarm reads: {Namespace, MetricName, Dimensions}, single or math."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [properties]
    return [
        query["MetricStat"]["Metric"]
        for query in properties.get("Metrics", [])
        if "MetricStat" in query
    ]


def alarms_on(namespace: str, metric_name: str, dimension: str, target: str) -> list[str]:
    return sorted(
        name
        for name, alarm in ALARMS.items()
        for metric in metrics_of(alarm)
        if metric["Namespace"] == namespace
        and metric["MetricName"] == metric_name
        and target in dimension_targets(metric, dimension)
    )


# ---------------------------------------------------------------------- the topic
def test_an_alarm_email_subscribes_to_the_topic_only_when_given() -> None:
    template = load_template()
    subscriptions = resources_of_type("AWS::SNS::Subscription")

    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    (subscription,) = subscriptions.values()
    condition = template["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert ref_target(subscription["Properties"]["TopicArn"]) == TOPIC
    assert ref_target(subscription["Properties"]["Endpoint"]) == "AlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(alarm: str) -> None:
    properties = ALARMS[alarm]["Properties"]

    assert [ref_target(a) for a in properties.get("AlarmActions", [])] == [TOPIC]
    assert [ref_target(a) for a in properties.get("OKActions", [])] == [TOPIC]
    assert properties.get("AlarmDescription")
    assert properties.get("TreatMissingData") == "notBreaching"


# ---------------------------------------------------------------------- functions
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_every_function_has_an_alarm_on_errors_throttles_and_duration(
    function: str, metric: str
) -> None:
    assert alarms_on("AWS/Lambda", metric, "FunctionName", function), (
        f"no alarm on {function}'s {metric}"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_duration_alarm_fires_near_the_functions_timeout(function: str) -> None:
    # Given the function's timeout (its own or Globals')
    timeout_ms = function_timeout(function) * 1000

    # Then its duration alarm fires on the slowest run above 70-95% of it
    for name in alarms_on("AWS/Lambda", "Duration", "FunctionName", function):
        properties = ALARMS[name]["Properties"]
        assert properties["Statistic"] == "Maximum"
        assert 0.7 * timeout_ms <= float(properties["Threshold"]) <= 0.95 * timeout_ms, name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_its_own_log_group_with_the_retention_parameter(
    function: str,
) -> None:
    logging = function_property(function, "LoggingConfig") or {}
    group = ref_target(logging.get("LogGroup"))

    assert group, f"{function} has no LoggingConfig.LogGroup: !Ref <its log group>"
    properties = resources_of_type("AWS::Logs::LogGroup")[group]["Properties"]
    assert ref_target(properties["RetentionInDays"]) == "LogRetentionDays"
    others = [f for f in FUNCTIONS if f != function]
    assert all(
        ref_target((function_property(f, "LoggingConfig") or {}).get("LogGroup")) != group
        for f in others
    )


def test_every_log_group_is_kept_for_the_retention_parameter() -> None:
    groups = resources_of_type("AWS::Logs::LogGroup")

    assert groups
    assert {ref_target(g["Properties"].get("RetentionInDays")) for g in groups.values()} == {
        "LogRetentionDays"
    }


# ---------------------------------------------------------------------- queues, API
@pytest.mark.parametrize(("function", "queue", "event"), sqs_event_sources())
def test_every_consumed_queue_has_an_alarm_on_its_oldest_message(
    function: str, queue: str, event: dict[str, Any]
) -> None:
    assert alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue)


def test_the_http_api_has_an_alarm_on_5xx_answers_and_route_throttling() -> None:
    (api,) = resources_of_type("AWS::Serverless::HttpApi")
    properties = resources_of_type("AWS::Serverless::HttpApi")[api]["Properties"]
    throttling = properties["DefaultRouteSettings"]

    assert alarms_on("AWS/ApiGateway", "5xx", "ApiId", api)
    assert ref_target(throttling["ThrottlingRateLimit"]) == "ApiThrottlingRateLimit"
    assert ref_target(throttling["ThrottlingBurstLimit"]) == "ApiThrottlingBurstLimit"
    assert "DestinationArn" in properties["AccessLogSettings"]


# ---------------------------------------------------------------------- tables
@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_alarms_on_throttling_and_system_errors(table: str) -> None:
    read = alarms_on("AWS/DynamoDB", "ReadThrottleEvents", "TableName", table)
    write = alarms_on("AWS/DynamoDB", "WriteThrottleEvents", "TableName", table)
    errors = alarms_on("AWS/DynamoDB", "SystemErrors", "TableName", table)

    assert read and write and errors, f"{table}: throttling or system error alarm missing"


def granted_operations(table: str) -> set[str]:
    """DynamoDB operations any function's policy allows on the table (or its indexes)."""
    operations = set()
    for function in FUNCTIONS:
        for policy in function_property(function, "Policies", []) or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                named = any(
                    getatt_target(r, "Arn") == table
                    or (isinstance(r, dict) and f"${{{table}.Arn}}" in str(r.get("Fn::Sub", "")))
                    for r in resources
                )
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if named:
                    operations |= {
                        OPERATION_OF_ACTION.get(a, a.split(":", 1)[1])
                        for a in actions
                        if a.startswith("dynamodb:")
                    }
    return operations


@pytest.mark.parametrize("table", TABLES)
def test_the_system_error_alarm_of_a_table_covers_every_operation_granted_on_it(
    table: str,
) -> None:
    # SystemErrors is published per operation: an operation left out is not watched.
    watched = {
        dimension["Value"]
        for name in alarms_on("AWS/DynamoDB", "SystemErrors", "TableName", table)
        for metric in metrics_of(ALARMS[name])
        if metric["MetricName"] == "SystemErrors"
        for dimension in metric["Dimensions"]
        if dimension["Name"] == "Operation"
    }
    granted = granted_operations(table)

    assert granted, f"no function is granted anything on {table}"
    assert granted <= watched, f"{table}: not watched: {sorted(granted - watched)}"


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_point_in_time_recovery(table: str) -> None:
    properties = resources_of_type("AWS::DynamoDB::Table")[table]["Properties"]

    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize(("table", "attribute"), sorted(TTL_TABLES.items()))
def test_the_tables_of_done_items_expire_them_by_ttl(table: str, attribute: str) -> None:
    ttl = resources_of_type("AWS::DynamoDB::Table")[table]["Properties"]["TimeToLiveSpecification"]

    assert ttl == {"AttributeName": attribute, "Enabled": True}


# ---------------------------------------------------------------------- parameters
@pytest.mark.parametrize("parameter", sorted(load_template()["Parameters"]))
def test_every_parameter_says_what_it_is_for(parameter: str) -> None:
    assert len(load_template()["Parameters"][parameter].get("Description", "")) >= 20
