"""Deploy the translated template into moto as a stack, and read back what it made.

Every name the runtime uses (tables, queues, buses, functions) comes from here: from the
deployed stack, never from a second list.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.template import HttpRoute, SamTemplate

log = logging.getLogger("local_stack")

CODE_BUCKET = "local-stack-code"
CODE_KEY = "placeholder.zip"


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, str]
    code_dir: Path | None
    reserved_concurrency: int | None = None
    async_retries: int = 2  # EventInvokeConfig.MaximumRetryAttempts (Lambda's default: 2)


@dataclass
class QueueInfo:
    name: str
    url: str
    arn: str
    visibility_timeout: int
    dead_letter_arn: str | None = None
    max_receive_count: int | None = None


@dataclass
class SqsMapping:
    uuid: str
    function: str  # logical id
    queue: QueueInfo
    batch_size: int
    maximum_concurrency: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass
class StreamMapping:
    """A DynamoDB stream event source mapping (`Type: DynamoDB` event of a function)."""

    uuid: str
    function: str  # logical id
    table: str  # table name
    stream_arn: str
    batch_size: int
    starting_position: str
    maximum_retry_attempts: int  # -1: until the record expires
    maximum_record_age: int  # seconds; -1: never
    bisect_on_error: bool
    report_batch_item_failures: bool
    filters: list[str]  # FilterCriteria patterns (JSON text)
    on_failure: str | None  # destination ARN (an SQS queue)
    enabled: bool
    batching_window: int = 0  # MaximumBatchingWindowInSeconds


@dataclass
class ScheduleRule:
    name: str
    arn: str
    expression: str
    targets: list[dict[str, Any]]


@dataclass
class Deployment:
    stack_name: str
    resources: dict[str, tuple[str, str]]  # logical id -> (type, physical id)
    functions: dict[str, DeployedFunction]
    mappings: list[SqsMapping]
    schedules: list[ScheduleRule]
    routes: list[HttpRoute]
    outputs: dict[str, str] = field(default_factory=dict)
    stream_mappings: list[StreamMapping] = field(default_factory=list)

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id][1]

    def of_type(self, resource_type: str) -> dict[str, str]:
        return {k: v[1] for k, v in self.resources.items() if v[0] == resource_type}

    def function_by_arn(self, arn: str) -> DeployedFunction | None:
        name = arn.split(":function:")[-1].split(":")[0]
        for function in self.functions.values():
            if name in (function.name, function.arn):
                return function
        return None

    def api_url_pattern(self) -> re.Pattern[str] | None:
        """Matches the HTTP API's AWS URL (with a stage path) inside configuration values."""
        api_ids = [re.escape(i) for i in self.of_type("AWS::ApiGatewayV2::Api").values()]
        api_ids += [re.escape(i) for i in self.of_type("AWS::ApiGateway::RestApi").values()]
        if not api_ids:
            return None
        stages = [
            re.escape(s)
            for s in self.of_type("AWS::ApiGatewayV2::Stage").values()
            if s != "$default"
        ]
        stage = f"(?:/(?:{'|'.join(stages)}))?" if stages else ""
        return re.compile(
            rf"https://(?:{'|'.join(api_ids)})\.execute-api\.[a-z0-9-]+\.amazonaws\.com{stage}"
        )

    def environment(self, base_url: str) -> dict[str, str]:
        """The union of the functions' environments; the HTTP API's URL becomes the local one."""
        pattern = self.api_url_pattern()
        merged: dict[str, str] = {}
        for function in self.functions.values():
            for key, value in function.environment.items():
                if pattern is not None:
                    value = pattern.sub(base_url, value)
                if key in merged and merged[key] != value:
                    log.warning("functions disagree on %s; keeping %r", key, merged[key])
                    continue
                merged[key] = value
        return merged


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Code runs in-process from the source tree.\n")
    return buffer.getvalue()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Deployer:
    def __init__(self, session: Any, region: str) -> None:
        self.session = session
        self.region = region
        self.cfn = session.client("cloudformation")
        self.lam = session.client("lambda")
        self.sqs = session.client("sqs")
        self.events = session.client("events")

    def deploy(
        self, template: SamTemplate, parameters: dict[str, str], stack_name: str
    ) -> Deployment:
        s3 = self.session.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=_placeholder_zip())
        translated = template.translate(
            f"s3://{CODE_BUCKET}/{CODE_KEY}", parameters, self.session.client("iam")
        )
        known = template.parameter_names()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not supported by moto.*")
            self.cfn.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(translated),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v}
                    for k, v in parameters.items()
                    if k in known
                ],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        stack = self._wait(stack_name)
        return self.read(template, stack_name, stack)

    def _wait(self, stack_name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while True:
            stack = self.cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
            status = stack["StackStatus"]
            if status == "CREATE_COMPLETE":
                return stack
            if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
                reason = stack.get("StackStatusReason", "")
                raise RuntimeError(f"stack {stack_name} ended {status}: {reason}")
            time.sleep(0.05)  # moto creates synchronously; this rarely loops

    def read(self, template: SamTemplate, stack_name: str, stack: dict[str, Any]) -> Deployment:
        resources = {
            r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
            for r in self.cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if "LogicalResourceId" in r
        }
        sam_functions = template.functions()
        functions = {}
        for logical_id, (kind, physical) in resources.items():
            if kind != "AWS::Lambda::Function":
                continue
            config = self.lam.get_function_configuration(FunctionName=physical)
            variables = config.get("Environment", {}).get("Variables", {})
            sam = sam_functions.get(logical_id)
            concurrency = self.lam.get_function_concurrency(FunctionName=physical)
            functions[logical_id] = DeployedFunction(
                logical_id=logical_id,
                name=config["FunctionName"],
                arn=config["FunctionArn"],
                handler=config.get("Handler", ""),
                runtime=config.get("Runtime", ""),
                timeout=int(config.get("Timeout", 3)),
                memory=int(config.get("MemorySize", 128)),
                environment={k: _text(v) for k, v in variables.items()},
                code_dir=sam.code_dir if sam else None,
                reserved_concurrency=concurrency.get("ReservedConcurrentExecutions"),
                async_retries=sam.async_retries if sam else 2,
            )
        routes = [
            route
            for sam in sam_functions.values()
            if sam.logical_id in functions
            for route in sam.routes
        ]
        by_arn = {f.arn: f.logical_id for f in functions.values()}
        mappings = []
        stream_mappings = []
        for kind, physical in resources.values():
            if kind != "AWS::Lambda::EventSourceMapping":
                continue
            config = self.lam.get_event_source_mapping(UUID=physical)
            if config.get("EventSourceArn", "").startswith("arn:aws:dynamodb:"):
                stream = self._stream_mapping(config, by_arn)
                if stream is not None:
                    stream_mappings.append(stream)
                continue
            mapping = self._sqs_mapping(config, by_arn)
            if mapping is not None:
                mappings.append(mapping)
        outputs = {
            o["OutputKey"]: _text(o.get("OutputValue", "")) for o in stack.get("Outputs", [])
        }
        return Deployment(
            stack_name=stack_name,
            resources=resources,
            functions=functions,
            mappings=mappings,
            schedules=self._schedules(),
            routes=routes,
            outputs=outputs,
            stream_mappings=stream_mappings,
        )

    def _stream_mapping(
        self, config: dict[str, Any], by_arn: dict[str, str]
    ) -> StreamMapping | None:
        source = config["EventSourceArn"]
        function = by_arn.get(config.get("FunctionArn", ""))
        if function is None or "/stream/" not in source:
            log.warning("event source %s is not run locally", source)
            return None
        enabled = config.get("State", "Enabled") == "Enabled"
        # As for SQS: the runtime applies the mapping, not moto.
        self.lam.update_event_source_mapping(UUID=config["UUID"], Enabled=False)
        filters = config.get("FilterCriteria", {}).get("Filters", [])
        destination = config.get("DestinationConfig", {}).get("OnFailure", {})
        return StreamMapping(
            uuid=config["UUID"],
            function=function,
            table=source.split(":table/", 1)[1].split("/stream/", 1)[0],
            stream_arn=source,
            batch_size=int(config.get("BatchSize", 100)),
            starting_position=str(config.get("StartingPosition", "LATEST")),
            maximum_retry_attempts=int(config.get("MaximumRetryAttempts", -1)),
            maximum_record_age=int(config.get("MaximumRecordAgeInSeconds", -1)),
            bisect_on_error=bool(config.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures"
            in config.get("FunctionResponseTypes", []),
            filters=[str(f["Pattern"]) for f in filters if "Pattern" in f],
            on_failure=destination.get("Destination"),
            enabled=enabled,
            batching_window=int(config.get("MaximumBatchingWindowInSeconds") or 0),
        )

    def _sqs_mapping(self, config: dict[str, Any], by_arn: dict[str, str]) -> SqsMapping | None:
        uuid = config["UUID"]
        source = config.get("EventSourceArn", "")
        function = by_arn.get(config.get("FunctionArn", ""))
        if not source.startswith("arn:aws:sqs:") or function is None:
            log.warning("event source %s is not run locally (only SQS is)", source)
            return None
        # moto would try Docker for each message and raise its receive count: the
        # runtime applies the mapping's settings itself.
        self.lam.update_event_source_mapping(UUID=uuid, Enabled=False)
        return SqsMapping(
            uuid=uuid,
            function=function,
            queue=self.queue_info(source),
            batch_size=int(config.get("BatchSize", 10)),
            maximum_concurrency=int(config.get("ScalingConfig", {}).get("MaximumConcurrency", 10)),
            report_batch_item_failures="ReportBatchItemFailures"
            in config.get("FunctionResponseTypes", []),
            enabled=config.get("State", "Enabled") == "Enabled",
        )

    def queue_info(self, queue_arn: str) -> QueueInfo:
        name = queue_arn.rsplit(":", 1)[-1]
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        redrive = json.loads(attributes.get("RedrivePolicy", "{}") or "{}")
        return QueueInfo(
            name=name,
            url=url,
            arn=attributes.get("QueueArn", queue_arn),
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
            dead_letter_arn=redrive.get("deadLetterTargetArn"),
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        )

    def _schedules(self) -> list[ScheduleRule]:
        rules = []
        paginator = self.events.get_paginator("list_rules")
        for page in paginator.paginate(EventBusName="default"):
            for rule in page["Rules"]:
                if not rule.get("ScheduleExpression") or rule.get("State") != "ENABLED":
                    continue
                targets = self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                rules.append(
                    ScheduleRule(rule["Name"], rule["Arn"], rule["ScheduleExpression"], targets)
                )
        return rules
