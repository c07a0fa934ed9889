"""A translated (plain CloudFormation) template resolved as CloudFormation would resolve it.

Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), Ref, Fn::GetAtt, Fn::Sub,
Fn::Join, Fn::Select, Fn::Split, Fn::If and AWS::NoValue, with the argument counts and
types CloudFormation accepts: a malformed intrinsic raises IntrinsicError instead of
giving a value CloudFormation would never give (moto accepts much that AWS refuses).

Physical names are given (e.g. read back from the local stack) or made up as
CloudFormation makes them (`<stack>-<LogicalId>-<suffix>`); each resource type's `Ref`
and attributes follow the CloudFormation reference of that type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class IntrinsicError(ValueError):
    """A function CloudFormation would refuse (or a name it could not resolve)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Account:
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    stack_name: str = "batch-calls"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        account = "" if service == "s3" else self.account_id
        return f"arn:{self.partition}:{service}:{where}:{account}:{resource}"

    # ARNs of the resources the code names, as IAM spells them
    def table_arn(self, table: str) -> str:
        return self.arn("dynamodb", f"table/{table}")

    def index_arn(self, table: str, index: str) -> str:
        return self.arn("dynamodb", f"table/{table}/index/{index}")

    def queue_arn(self, queue_name: str) -> str:
        return self.arn("sqs", queue_name)

    def queue_url(self, queue_name: str) -> str:
        return f"https://sqs.{self.region}.{self.url_suffix}/{self.account_id}/{queue_name}"

    def bus_arn(self, bus_name: str) -> str:
        return self.arn("events", f"event-bus/{bus_name}")

    def parameter_arn(self, name: str) -> str:
        # IAM names /a/b as parameter/a/b and a (no slash) as parameter/a.
        return self.arn("ssm", f"parameter/{name.removeprefix('/')}")

    def topic_arn(self, topic_name: str) -> str:
        return self.arn("sns", topic_name)

    def bucket_arn(self, bucket: str) -> str:
        return self.arn("s3", bucket, region=False)

    def object_arn(self, bucket: str, key: str) -> str:
        return self.arn("s3", f"{bucket}/{key}", region=False)


@dataclass(frozen=True)
class Physical:
    """What CloudFormation answers for a resource: its Ref and its attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


# The property that names a resource of each type, when the template names it.
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Events::EventBus": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::S3::Bucket": "BucketName",
}


def _name(properties: dict[str, Any], key: str, default: str) -> str:
    value = properties.get(key)
    return value if isinstance(value, str) and value else default


def physical(
    resource_type: str, logical_id: str, properties: dict[str, Any], name: str, account: Account
) -> Physical:
    """Ref and attributes of a resource of this type, named `name` unless its (resolved)
    properties name it."""
    a = account
    if resource_type == "AWS::DynamoDB::Table":
        table = _name(properties, "TableName", name)
        return Physical(
            table, {"Arn": a.table_arn(table), "StreamArn": f"{a.table_arn(table)}/stream/x"}
        )
    if resource_type == "AWS::SQS::Queue":
        queue = _name(properties, "QueueName", name)
        url = a.queue_url(queue)
        return Physical(url, {"Arn": a.queue_arn(queue), "QueueName": queue, "QueueUrl": url})
    if resource_type == "AWS::Events::EventBus":
        bus = _name(properties, "Name", name)
        return Physical(bus, {"Arn": a.bus_arn(bus), "Name": bus})
    if resource_type == "AWS::SNS::Topic":
        topic = _name(properties, "TopicName", name)
        return Physical(a.topic_arn(topic), {"TopicArn": a.topic_arn(topic), "TopicName": topic})
    if resource_type == "AWS::Lambda::Function":
        function = _name(properties, "FunctionName", name)
        return Physical(function, {"Arn": a.arn("lambda", f"function:{function}")})
    if resource_type == "AWS::Logs::LogGroup":
        group = _name(properties, "LogGroupName", name)
        return Physical(group, {"Arn": a.arn("logs", f"log-group:{group}:*")})
    if resource_type == "AWS::IAM::Role":
        role = _name(properties, "RoleName", name)
        return Physical(role, {"Arn": a.arn("iam", f"role/{role}", region=False), "RoleId": role})
    if resource_type == "AWS::ApiGatewayV2::Api":
        api = name if re.fullmatch(r"[a-z0-9]{10}", name) else "a1b2c3d4e5"
        endpoint = f"https://{api}.execute-api.{a.region}.{a.url_suffix}"
        return Physical(api, {"ApiEndpoint": endpoint, "ApiId": api})
    if resource_type in ("AWS::Events::Connection", "AWS::Events::ApiDestination"):
        kind = "connection" if resource_type.endswith("Connection") else "api-destination"
        arn = a.arn("events", f"{kind}/{name}/00000000-0000-0000-0000-000000000000")
        return Physical(name, {"Arn": arn, "SecretArn": a.arn("secretsmanager", f"secret:{name}")})
    if resource_type == "AWS::S3::Bucket":
        bucket = _name(properties, "BucketName", name.lower())
        return Physical(
            bucket, {"Arn": a.bucket_arn(bucket), "DomainName": f"{bucket}.s3.{a.url_suffix}"}
        )
    if resource_type == "AWS::Events::Rule":
        return Physical(name, {"Arn": a.arn("events", f"rule/{name}")})
    return Physical(name, {})


class Resolver:
    """Resolves the intrinsics of one translated template for given parameter values."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str] | None = None,
        account: Account | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        self.template = template
        self.account = account or Account()
        self.names = dict(names or {})
        self.parameters: dict[str, Any] = {}
        for name, declaration in template.get("Parameters", {}).items():
            given = (parameters or {}).get(name, declaration.get("Default"))
            if given is None:
                raise IntrinsicError(f"parameter {name} has no value and no default")
            given = str(given)
            allowed = declaration.get("AllowedValues")
            if allowed is not None and given not in [str(v) for v in allowed]:
                raise IntrinsicError(f"parameter {name}={given!r} is not one of {allowed}")
            pattern = declaration.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, given):
                raise IntrinsicError(f"parameter {name}={given!r} does not match {pattern}")
            if declaration.get("Type") == "CommaDelimitedList":
                self.parameters[name] = [part.strip() for part in given.split(",")]
            else:
                self.parameters[name] = given
        unknown = set(parameters or {}) - set(self.parameters)
        if unknown:
            raise IntrinsicError(f"no such parameters: {sorted(unknown)}")
        self._conditions: dict[str, bool] = {}
        self._physical: dict[str, Physical] = {}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions", {})
            if name not in declared:
                raise IntrinsicError(f"no condition {name}")
            value = self._condition_value(declared[name])
            self._conditions[name] = value
        return self._conditions[name]

    def _condition_value(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::Equals":
                left, right = self._arguments(function, argument, 2)
                return str(self.resolve(left)) == str(self.resolve(right))
            if function == "Fn::Not":
                (inner,) = self._arguments(function, argument, 1)
                return not self._condition_value(inner)
            if function in ("Fn::And", "Fn::Or"):
                if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                    raise IntrinsicError(f"{function} takes 2 to 10 conditions: {argument!r}")
                values = [self._condition_value(inner) for inner in argument]
                return all(values) if function == "Fn::And" else any(values)
        raise IntrinsicError(f"not a condition: {node!r}")

    def refusals(self) -> list[str]:
        """The AssertDescription of each Rules assertion these parameters break (a stack
        CloudFormation would refuse to create); empty when it would go ahead."""
        refused = []
        for name, rule in self.template.get("Rules", {}).items():
            applies = rule.get("RuleCondition")
            if applies is not None and not self._condition_value(applies):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._condition_value(assertion["Assert"]):
                    refused.append(f"{name}: {assertion.get('AssertDescription', '')}")
        return refused

    def resource_exists(self, logical_id: str) -> bool:
        resource = self.template["Resources"][logical_id]
        return "Condition" not in resource or self.condition(resource["Condition"])

    # ------------------------------------------------------------------ values
    def physical(self, logical_id: str) -> Physical:
        if logical_id not in self._physical:
            resources = self.template.get("Resources", {})
            if logical_id not in resources:
                raise IntrinsicError(f"no resource or parameter {logical_id}")
            if not self.resource_exists(logical_id):
                raise IntrinsicError(f"{logical_id} is not created (its condition is false)")
            resource = resources[logical_id]
            key = NAME_PROPERTY.get(resource["Type"])
            given = resource.get("Properties", {}).get(key) if key else None
            properties = {} if given is None else {key: self.resolve(given)}
            default = f"{self.account.stack_name}-{logical_id}-TESTSUFFIX"
            name = self.names.get(logical_id, default)
            self._physical[logical_id] = physical(
                resource["Type"], logical_id, properties, name, self.account
            )
        return self._physical[logical_id]

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.account.region,
            "AWS::AccountId": self.account.account_id,
            "AWS::Partition": self.account.partition,
            "AWS::URLSuffix": self.account.url_suffix,
            "AWS::StackName": self.account.stack_name,
            "AWS::StackId": self.account.arn(
                "cloudformation", f"stack/{self.account.stack_name}/0"
            ),
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical(name).ref

    def get_att(self, logical_id: str, attribute: str) -> str:
        found = self.physical(logical_id)
        if attribute not in found.attributes:
            kind = self.template["Resources"][logical_id]["Type"]
            raise IntrinsicError(f"{logical_id} ({kind}) has no attribute {attribute} here")
        return found.attributes[attribute]

    @staticmethod
    def _arguments(function: str, argument: Any, count: int) -> list[Any]:
        if not isinstance(argument, list) or len(argument) != count:
            raise IntrinsicError(f"{function} takes {count} arguments, not {argument!r}")
        return argument

    def _string(self, function: str, value: Any) -> str:
        if not isinstance(value, str):
            raise IntrinsicError(f"{function} needs a string here, got {value!r}")
        return value

    def resolve(self, node: Any) -> Any:
        """The value CloudFormation would give `node` (NO_VALUE items and keys dropped)."""
        if isinstance(node, list):
            values = [self.resolve(item) for item in node]
            return [v for v in values if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function in ("Ref", "Condition") or function.startswith("Fn::"):
                return self._function(function, argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _function(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self.ref(self._string("Ref", argument))
        if function == "Condition":
            return self.condition(self._string("Condition", argument))
        if function == "Fn::GetAtt":
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            logical_id, attribute = self._arguments(function, argument, 2)
            return self.get_att(self._string(function, logical_id), self.resolve(attribute))
        if function == "Fn::Sub":
            if isinstance(argument, str):
                text, variables = argument, {}
            else:
                text, variables = self._arguments(function, argument, 2)
                if not isinstance(variables, dict):
                    raise IntrinsicError(f"Fn::Sub's variables must be a map: {variables!r}")
            return self._sub(self._string(function, text), variables)
        if function == "Fn::Join":
            delimiter, values = self._arguments(function, argument, 2)
            values = self.resolve(values)
            if not isinstance(values, list):
                raise IntrinsicError(f"Fn::Join joins a list: {values!r}")
            return self._string(function, delimiter).join(
                self._string(function, str(v) if isinstance(v, int) else v) for v in values
            )
        if function == "Fn::Select":
            index, values = self._arguments(function, argument, 2)
            index = int(self.resolve(index))
            values = self.resolve(values)
            if not isinstance(values, list) or not 0 <= index < len(values):
                raise IntrinsicError(f"Fn::Select index {index} outside {values!r}")
            return values[index]
        if function == "Fn::Split":
            delimiter, text = self._arguments(function, argument, 2)
            return self._string(function, self.resolve(text)).split(
                self._string(function, delimiter)
            )
        if function == "Fn::If":
            name, when_true, when_false = self._arguments(function, argument, 3)
            chosen = when_true if self.condition(self._string(function, name)) else when_false
            return self.resolve(chosen)
        if function in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._condition_value({function: argument})
        if function == "Fn::GetAZs":
            return [f"{self.account.region}{zone}" for zone in "abc"]
        if function == "Fn::Base64":
            import base64

            return base64.b64encode(str(self.resolve(argument)).encode()).decode()
        raise IntrinsicError(f"{function} is not resolved here: {argument!r}")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        values = {name: self.resolve(value) for name, value in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                value = values[name]
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                value = self.get_att(logical_id, attribute)
            else:
                value = self.ref(name)
            if not isinstance(value, str | int):
                raise IntrinsicError(f"Fn::Sub ${{{name}}} is not a string: {value!r}")
            return str(value)

        return SUB_VARIABLE.sub(one, text)

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every created resource with its properties resolved (raises on any bad intrinsic)."""
        resolved = {}
        for logical_id, resource in self.template.get("Resources", {}).items():
            if self.resource_exists(logical_id):
                resolved[logical_id] = {
                    **resource,
                    "Properties": self.resolve(resource.get("Properties", {})),
                }
        return resolved
